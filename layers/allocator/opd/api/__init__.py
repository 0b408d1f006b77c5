"""The HTTP layer the route handlers share: models, errors, authorisation, idempotency, the resolver.

Importing this package is cheap on purpose: nothing here reaches for pymongo, redis or boto3 until
a request needs them, so a cold start pays only for Powertools and pydantic; and of Powertools'
event_handler and data_classes packages only what an HTTP API route uses (see lazy_packages). The
route handlers import Powertools' names through this package (opd.api.resolver), so it comes first.
"""

from opd.api import lazy_packages

lazy_packages.install()
