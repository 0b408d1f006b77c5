"""Local-only tooling: the API runner, the local servers it starts, seeding and the demo."""
