"""The ABDM gateway as a HIP calls it: a session token by client credentials, then the on-share callback.

`{gateway}/api/hiecm/gateway/v3/sessions` takes `{clientId, clientSecret, grantType: "client_credentials"}` and
answers `{accessToken, expiresIn}`; the token is kept until `TOKEN_MARGIN_S` before it expires (per execution
environment), and dropped at once if the gateway refuses it (401), so the next try asks for a new one. Every call
carries ABDM's headers: REQUEST-ID (a new UUID), TIMESTAMP (UTC, milliseconds), X-CM-ID. Each call is bounded by
`TIMEOUT_S`; any failure raises `GatewayFailed`, which the on-share consumer lets fail its message (SQS tries again).

Plain `urllib` (the standard library): one POST of JSON needs no HTTP package in the layer. Nothing here logs a body:
the callback carries the patient's ABHA address.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SESSIONS_PATH = "/api/hiecm/gateway/v3/sessions"
ON_SHARE_PATH = "/api/hiecm/patient-share/v3/on-share"
TIMEOUT_S = 5.0
TOKEN_MARGIN_S = 60  # a token this close to its expiry is not used: a slow call must not carry an expired one
MAX_ANSWER_BYTES = 64 * 1024


class GatewayFailed(Exception):
    """The gateway could not be reached, or refused the call (`status`, None when it never answered)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


def post_json(url: str, body: dict[str, Any], headers: dict[str, str], timeout_s: float = TIMEOUT_S) -> Answer:
    """POST `body` as JSON; the answer's status and (at most 64 KiB of) body, whatever the status; GatewayFailed
    when no answer came (refused connection, timeout, a broken answer)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            return Answer(answer.status, answer.read(MAX_ANSWER_BYTES))
    except urllib.error.HTTPError as refused:
        with refused:
            return Answer(refused.code, refused.read(MAX_ANSWER_BYTES))
    except (urllib.error.URLError, TimeoutError, http.client.HTTPException, OSError) as lost:
        raise GatewayFailed(f"the ABDM gateway did not answer: {type(lost).__name__}") from None


def timestamp() -> str:
    """ABDM's TIMESTAMP header: UTC to the millisecond, e.g. 2026-11-21T09:30:00.587Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AbdmGateway:
    """One gateway, as this HIP's client (`client_id`, and its secret read at the first session asked for)."""

    def __init__(
        self,
        gateway_url: str,
        cm_id: str,
        client_id: str,
        client_secret: Callable[[], str],
        *,
        post: Callable[[str, dict[str, Any], dict[str, str]], Answer] = post_json,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.gateway_url = gateway_url.rstrip("/")
        self.cm_id = cm_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.post = post
        self.clock = clock
        self._token: str | None = None
        self._renew_at = 0.0

    def headers(self) -> dict[str, str]:
        return {"REQUEST-ID": str(uuid.uuid4()), "TIMESTAMP": timestamp(), "X-CM-ID": self.cm_id}

    def session_token(self) -> str:
        """The gateway's access token: the one kept while it has more than `TOKEN_MARGIN_S` left, else a new one."""
        if self._token is not None and self.clock() < self._renew_at:
            return self._token
        credentials = {
            "clientId": self.client_id,
            "clientSecret": self.client_secret(),
            "grantType": "client_credentials",
        }
        answer = self.post(self.gateway_url + SESSIONS_PATH, credentials, self.headers())
        if not 200 <= answer.status < 300:
            raise GatewayFailed(f"the ABDM gateway refused a session: HTTP {answer.status}", answer.status)
        try:
            session = json.loads(answer.body)
            token, expires_in = session["accessToken"], session["expiresIn"]
        except (ValueError, TypeError, KeyError):
            raise GatewayFailed("the ABDM gateway's session answer has no accessToken and expiresIn") from None
        if not isinstance(token, str) or not token or not isinstance(expires_in, int | float) or expires_in <= 0:
            raise GatewayFailed("the ABDM gateway's session answer has no accessToken and expiresIn")
        self._token, self._renew_at = token, self.clock() + max(0.0, float(expires_in) - TOKEN_MARGIN_S)
        return token

    def on_share(self, body: dict[str, Any]) -> None:
        """POST the on-share callback; GatewayFailed unless the gateway took it (2xx)."""
        token = self.session_token()
        headers = {**self.headers(), "Authorization": f"Bearer {token}"}
        answer = self.post(self.gateway_url + ON_SHARE_PATH, body, headers)
        if answer.status == 401:  # the token was revoked or has expired early: the next try asks for a new one
            self._token = None
        if not 200 <= answer.status < 300:
            raise GatewayFailed(f"the ABDM gateway refused the on-share: HTTP {answer.status}", answer.status)
