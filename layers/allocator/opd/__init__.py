"""OPD token allocation: the shared Lambda layer (domain, policy, lock, store, service)."""
