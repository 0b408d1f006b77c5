"""What Cognito's auth challenge triggers (`functions/auth_*_challenge`) are built from: one Lambda entry point
around a decision on the trigger's event, as `opd.api.resolver.make_handler` is for a route.

Cognito invokes a trigger with `{version, triggerSource, region, userPoolId, userName, callerContext, request,
response}` and takes the event back with `response` filled in. The event is never logged, nor the answer traced
(`opd.api.observability.traced` keeps no response): Verify's carries the patient's answer, a code, and every
trigger's carries the code's hash. The log names the trigger and the user (a patientId).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from opd.api import snapstart
from opd.api.observability import logger, traced

Event = dict[str, Any]
Trigger = Callable[[Event, LambdaContext], Event]


def make_trigger(source: str, decide: Callable[[Event], dict[str, Any]], prime: Sequence[str] = ()) -> Trigger:
    """The Lambda entry point of the trigger whose events' `triggerSource` is `source` (e.g.
    "DefineAuthChallenge_Authentication"): `decide` makes the `response` from the whole event. Under SnapStart
    the modules `prime` names are imported before the snapshot (a restored environment's first invocation has
    Cognito's 5 s, and boto3's import alone takes a good part of a second at 256 MB), never used: no client, no
    secret, no socket is made before it (`opd.api.snapstart`)."""
    hooks = snapstart.runtime_hooks()
    if hooks is not None:
        before_snapshot, after_restore = hooks
        before_snapshot(_import_all, tuple(prime))
        after_restore(snapstart.after_restore)

    @logger.inject_lambda_context(clear_state=True, log_event=False)
    @traced
    def lambda_handler(event: Event, context: LambdaContext) -> Event:
        logger.append_keys(trigger=event.get("triggerSource"), patient_id=event.get("userName"))
        if event.get("triggerSource") != source or not isinstance(event.get("request"), dict):
            raise ValueError(f"not a {source} event")
        response = decide(event)
        logger.info("auth challenge trigger answered", tries=len(event["request"].get("session") or []))
        return {**event, "response": response}

    return lambda_handler


def _import_all(modules: tuple[str, ...]) -> None:
    for module in modules:
        importlib.import_module(module)
