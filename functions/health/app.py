"""GET /health (public): can this function reach Redis and MongoDB right now?"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from opd.api.models import HealthOut
from opd.api.observability import logger
from opd.api.resolver import Response, answer, make_app, make_handler

app = make_app()


def _state(part: str, ping: Callable[[], object]) -> str:
    try:
        ping()
    except Exception:  # any failure to answer is "down"; the log says why
        logger.warning("health check failed", part=part, exc_info=True)
        return "down"
    return "ok"


@app.get(
    "/health",
    summary="Whether this function reaches Redis and MongoDB (public)",
    tags=["health"],
    responses={
        200: {"description": "OK: both answer"},
        503: {"description": "Service Unavailable: Redis or MongoDB does not answer; the body says which"},
    },
)
def health() -> Response[HealthOut]:
    from opd import runtime  # the clients load on first use, not at cold import

    redis = _state("redis", lambda: runtime.redis_client().ping())
    mongo = _state("mongo", lambda: runtime.slot_store().ping())
    healthy = redis == mongo == "ok"
    status = HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE
    return answer(HealthOut(status="ok" if healthy else "down", redis=redis, mongo=mongo), status)


lambda_handler = make_handler(app)
