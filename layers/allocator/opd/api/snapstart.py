"""Lambda SnapStart: what a route function does before its snapshot, and what each restored environment redoes.

With SnapStart (template.yaml: `SnapStart: {ApplyOn: PublishedVersions}` on the route functions, called
through their `live` alias), Lambda runs a version's init once, snapshots the memory, and starts every
new execution environment of that version from the snapshot. The runtime's `snapshot_restore_py`
(only there: its import is guarded, and without it nothing is registered) runs our hooks:

before the snapshot, `prime(app)`: work that is the same in every environment, so that no restored
environment pays for it on its first request: the X-Ray SDK (the Tracer), the route's validation
models (Powertools builds them at the first request; our pydantic models are deferred), and the
modules of the clients (pymongo, redis, boto3 for the secrets) imported, not used.

never before the snapshot: anything one environment must not share with another. Connections to
Redis and MongoDB, and the secrets they are made from, stay lazy (`opd.runtime` makes them at the
first request that needs them; nothing here calls it): a socket in a snapshot would be one
connection shared, after restore, by many environments, or a dead one.

after restore, `after_restore()`: randomness made per environment. `random`'s module-level
generator was seeded from os.urandom when it was imported, so every environment restored from one
snapshot would draw the same numbers (Powertools' Logger draws from it to sample debug logs, and any
retry jitter would: environments restored together would retry in lockstep). It is seeded again from
os.urandom. `secrets` (lock owners, booking and slot ids) and `uuid.uuid4` read os.urandom on every
call, so they differ per environment as they are; nothing in opd draws from `random`. Any client
made before the snapshot, which never happens, would be dropped (`runtime.reset`).
"""

from __future__ import annotations

import importlib
import logging
import random
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opd.settings import Settings, current

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from pydantic import BaseModel

log = logging.getLogger(__name__)

# Imported before the snapshot so that a restored environment's first request does not import them;
# Powertools parameters too where a connection string comes from Secrets Manager.
CLIENT_MODULES = ("pymongo", "redis", "boto3", "opd.runtime")  # boto3: every change publishes its events
SECRETS_MODULE = "aws_lambda_powertools.utilities.parameters"

Register = Callable[..., Any]


def runtime_hooks() -> tuple[Register, Register] | None:
    """`snapshot_restore_py`'s (register_before_snapshot, register_after_restore), where Lambda provides it."""
    try:
        from snapshot_restore_py import (  # type: ignore[import-not-found]
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:  # not in a Lambda runtime (tests, the local runner, sam local)
        return None
    return register_before_snapshot, register_after_restore


def register(app: APIGatewayHttpResolver) -> bool:
    """Register this route function's hooks with the Lambda runtime; False where there is no SnapStart runtime."""
    hooks = runtime_hooks()
    if hooks is None:
        return False
    before_snapshot, after_restore_hook = hooks
    before_snapshot(prime, app)
    after_restore_hook(after_restore)
    return True


def prime(app: APIGatewayHttpResolver) -> None:
    """Do before the snapshot what every environment would otherwise do at its first request. Opens nothing."""
    from opd.api import models, observability, openapi

    if observability.tracing_on():
        observability.tracer()
    for route in [*getattr(app, "_static_routes", []), *getattr(app, "_dynamic_routes", [])]:
        # Powertools' own lazy parts of a route: its parameters' and body's validation fields.
        _ = route.dependant, route.body_field
    documented: list[type[BaseModel]] = [openapi.ErrorBody, openapi.Error, openapi.GatewayUnauthorized]
    for model in [*models.all_models(), *documented]:
        model.model_rebuild()
    for module in client_modules(current()):
        importlib.import_module(module)


def client_modules(config: Settings) -> tuple[str, ...]:
    """What the first request of an environment with these settings will import to make its clients."""
    secret = (config.redis_url_secret and not config.redis_url) or (
        config.mongodb_uri_secret and not config.mongodb_uri
    )
    return (*CLIENT_MODULES, SECRETS_MODULE) if secret else CLIENT_MODULES


def after_restore() -> None:
    """In each environment restored from the snapshot, before its first request."""
    random.seed()  # from os.urandom: this environment's own jitter
    if runtime := sys.modules.get("opd.runtime"):
        runtime.reset()  # no client is made before the snapshot; if one were, it is not reused
    log.debug("restored from a snapshot: random reseeded, clients to be made on first use")
