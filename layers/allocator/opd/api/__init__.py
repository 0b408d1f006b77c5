"""The HTTP layer the route handlers share: models, errors, authorisation, idempotency, the resolver.

Importing this package is cheap on purpose: nothing here reaches for pymongo, redis or boto3 until
a request needs them, so a cold start pays only for Powertools and pydantic.
"""
