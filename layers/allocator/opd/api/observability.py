"""Logger, Tracer and Metrics shared by every route handler (Powertools keeps one of each per process)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from opd.settings import Settings, current

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

# The settings are read here, with the first import of a handler: a bad environment fails the cold start.
_config = current()
SERVICE = _config.service_name
logger = Logger(service=SERVICE, level=_config.log_level)
metrics = Metrics(service=SERVICE, namespace=_config.metrics_namespace)


def tracing_on(config: Settings | None = None) -> bool:
    """X-Ray traces only inside a Lambda (not `sam local`) unless POWERTOOLS_TRACE_DISABLED says no,
    as Powertools' Tracer decides. Asked first because Tracer() imports the X-Ray SDK even where it
    then disables itself."""
    return (config or current()).tracing


@functools.cache
def tracer() -> Tracer:
    """The process's Tracer, made at its first use: the X-Ray SDK (aws_xray_sdk, wrapt; ~10 ms) is
    imported then, not with the handler module. Nothing is patched: patching would import pymongo
    (or, for all modules, boto3). The handler's subsegment still carries the cold start annotation
    and any exception."""
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE, auto_patch=False)


def traced[Handler: Callable[..., Any]](handler: Handler) -> Handler:
    """The Lambda handler inside an X-Ray subsegment, where tracing is on; unchanged elsewhere.

    The Tracer is made by the first invocation (or by `opd.api.snapstart`'s priming before a
    snapshot), so importing a handler never loads the X-Ray SDK.
    """
    if not tracing_on():
        return handler

    @functools.cache
    def capturing() -> Callable[..., Any]:
        # Not the answer: X-Ray would keep its body (a booking's phone, its patient's name, its status code).
        return tracer().capture_lambda_handler(handler, capture_response=False)

    @functools.wraps(handler)
    def with_tracing(event: Any, context: Any) -> Any:
        return capturing()(event, context)

    return cast(Handler, with_tracing)


def count(name: str, **dimensions: str) -> None:
    """One event of `name`, e.g. count("Bookings", tier="PREMIUM"); flushed when the invocation ends.

    Dimensions apply to the whole invocation's metric set, which is fine: a request ends in one
    booking or one refusal, never both.
    """
    for dimension, value in dimensions.items():
        metrics.add_dimension(name=dimension, value=value)
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
