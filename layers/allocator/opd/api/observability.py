"""Logger, Tracer and Metrics shared by every route handler (Powertools keeps one of each per process)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

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


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """`value` events of `name`, e.g. count("Bookings", tier="PREMIUM"). Dimensions are kinds (a tier, an error
    code, a source), never anything of a patient.

    Without dimensions the count joins the invocation's metric set (dimension: service), flushed when it ends.
    With them it is a line of its own, published twice: the total (service) and the split (service and the
    dimensions). In the invocation's set they would apply to every metric in it, the lock wait too, and split
    each into as many series as there are tiers and codes, which no alarm could then name.
    """
    if not dimensions:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return
    own_line(name, MetricUnit.Count, value, **dimensions)


def own_line(name: str, unit: MetricUnit, value: float, **dimensions: str) -> None:
    """One metric on an EMF line of its own, now, with [service] and [service, *dimensions] as its dimension sets.
    Written only while metrics are enabled (POWERTOOLS_METRICS_DISABLED), as the invocation's set is."""
    line = AmazonCloudWatchEMFProvider(namespace=_config.metrics_namespace, service=SERVICE)
    line.add_metric(name=name, unit=unit, value=value)
    if dimensions:
        line.add_dimensions(service=SERVICE, **dimensions)
    line.flush_metrics()


_answered: set[str] = set()  # the functions this environment has run (one, in Lambda); under SnapStart: since restore


def count_cold_start(function_name: str) -> None:
    """ColdStart once per environment, by function (`function_name`, as Powertools' own cold start metric names it).
    Not Powertools' `log_metrics(capture_cold_start_metric=True)`: the route handlers flush their metrics themselves
    (`make_handler`), and its line is written even while metrics are disabled."""
    if function_name not in _answered:
        _answered.add(function_name)
        own_line("ColdStart", MetricUnit.Count, 1, function_name=function_name)
