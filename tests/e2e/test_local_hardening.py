"""The local runner's own hardening (issue 9): local-only endpoints and the local Cognito refuse other
origins, headers, bounded `/_local/*` bodies, and HTTP framing that is wrong or stalls.

Over real sockets to the module's own stack (tests/e2e/conftest.py), with auth on.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devserver import runner
from devserver.runner import LocalStack
from tests.e2e.support import Api, error_of
from tests.support.hostile import odd_times, raw_bodies

pytestmark = pytest.mark.xdist_group("e2e-local-hardening")

FOREIGN = "http://evil.example"


def cors_headers(answer: requests.Response) -> dict[str, str]:
    return {name: value for name, value in answer.headers.items() if name.lower().startswith("access-control-")}


# -- the local-only endpoints and the local Cognito: this machine only ----------------------------


@pytest.mark.parametrize("path", ["/_local/token", "/_local/sweep"])
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Origin": FOREIGN}, id="another-origin"),
        pytest.param({"Origin": "null"}, id="a-sandboxed-page"),
        pytest.param({"Origin": FOREIGN, "Access-Control-Request-Method": "POST"}, id="preflight"),
        pytest.param({"Host": "rebound.example:3000"}, id="dns-rebinding"),
    ],
)
def test_local_endpoints_refuse_other_sites(api: Api, path: str, headers: dict[str, str]) -> None:
    method = "OPTIONS" if "Access-Control-Request-Method" in headers else "POST"
    answer = api.call(method, path, body={"role": "admin", "user": "intruder"}, headers=headers)
    assert answer.status_code == 403, answer.text
    assert error_of(answer)["code"] == "FORBIDDEN"
    assert cors_headers(answer) == {}


def test_local_endpoints_answer_this_machines_pages_without_cors(api: Api, stack: LocalStack) -> None:
    port = urlsplit(stack.url).port
    for origin in (stack.url, f"http://localhost:{port}", None):
        answer = api.call(
            "POST",
            "/_local/token",
            body={"role": "admin", "user": "desk"},
            headers={"Origin": origin} if origin else {},
        )
        assert answer.status_code == 200, (origin, answer.text)
        assert cors_headers(answer) == {}
    # The API itself stays callable from other origins, as the template's CORS configuration says.
    assert cors_headers(api.call("GET", "/health", headers={"Origin": FOREIGN}))["access-control-allow-origin"] == "*"


def test_the_local_cognito_refuses_browsers(stack: LocalStack) -> None:
    endpoint = stack.cognito.endpoint
    target = {
        "X-Amz-Target": "AWSCognitoIdentityProviderService.ListUsers",
        "Content-Type": "application/x-amz-json-1.1",
    }
    body = json.dumps({"UserPoolId": stack.cognito.pool_id})
    for extra in ({"Origin": FOREIGN}, {"Origin": stack.url}, {"Host": "rebound.example"}):
        answer = requests.post(endpoint, data=body, headers={**target, **extra}, timeout=10)
        assert answer.status_code == 403, (extra, answer.text)
        assert cors_headers(answer) == {}
    preflight = requests.options(
        endpoint, headers={"Origin": FOREIGN, "Access-Control-Request-Method": "POST"}, timeout=10
    )
    assert (preflight.status_code, cors_headers(preflight)) == (403, {})
    # What the runner itself does (boto3, the verifier's key fetch) sends no Origin and still works.
    assert requests.post(endpoint, data=body, headers=target, timeout=10).status_code == 200
    keys = requests.get(stack.cognito.jwks_url, timeout=10)
    assert keys.status_code == 200 and cors_headers(keys) == {}


# -- what the runner says about itself ----------------------------------------------------------------


def test_openapi_names_the_listen_address_not_the_host_header(api: Api, stack: LocalStack) -> None:
    answer = api.call("GET", "/openapi.json", headers={"Host": "attacker.example"})
    assert answer.json()["servers"][0]["url"] == stack.url


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nowhere", 404), ("GET", "/slots/s-1/queue", 401), ("GET", "/docs", 200), ("POST", "/_local/token", 400)],
)
def test_every_runner_answer_says_nosniff(api: Api, method: str, path: str, status: int) -> None:
    answer = api.call(method, path, body={} if method == "POST" else None)
    assert answer.status_code == status
    assert answer.headers["x-content-type-options"] == "nosniff"


# -- /_local/* bodies are bounded like the API's ------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"now": "0001-01-01T00:05:00+00:00"}, "now"),  # was a 500: the sweeper's arithmetic overflowed
        ({"now": "9999-12-31T23:59:59-05:00"}, "now"),
        ("[" * 20_000 + "]" * 20_000, "body"),  # 40 KB: json.loads alone would raise RecursionError (a 500)
        ('{"now": "' + "x" * 70_000 + '"}', "body"),
        ('{"now": NaN}', "body"),
        (b"\xff\xfe{}", "body"),
    ],
)
def test_local_sweep_input_is_bounded(api: Api, body: dict[str, str] | str | bytes, field: str) -> None:
    data = json.dumps(body) if isinstance(body, dict) else body
    answer = api.session.post(
        f"{api.url}/_local/sweep", data=data, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert answer.status_code == 400, answer.text
    assert [d["field"] for d in error_of(answer)["details"]] == [field]


# -- HTTP framing -------------------------------------------------------------------------------------


def exchange(stack: LocalStack, wire: bytes, wait_s: float = 10.0) -> tuple[bytes, float]:
    """Send raw bytes, read until the runner closes the connection; what came back and how long it took."""
    host, port = urlsplit(stack.url).hostname, urlsplit(stack.url).port
    began = time.monotonic()
    with socket.create_connection((host, port), timeout=wait_s) as connection:
        connection.sendall(wire)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received, time.monotonic() - began


@pytest.fixture
def short_request_timeout(monkeypatch: pytest.MonkeyPatch) -> Iterator[float]:
    monkeypatch.setattr(runner._Connection, "request_timeout_s", 0.5)
    yield 0.5


@pytest.mark.parametrize("length", [b"-1", b"abc", b"1e3", b"5, 6", b"99999999999999999999999999"])
def test_a_wrong_content_length_is_400_at_once(stack: LocalStack, length: bytes) -> None:
    wire = b"POST /_local/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + length + b"\r\n\r\n{}"
    received, took = exchange(stack, wire)
    assert received.startswith(b"HTTP/1.1 400 "), received
    assert took < 2


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param(
            b"POST /_local/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{", id="short-body"
        ),
        pytest.param(b"POST /_local/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le", id="half-the-headers"),
        pytest.param(
            b"POST /_local/token HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{}", id="chunked"
        ),
    ],
)
def test_a_request_that_stalls_is_408_and_closed(stack: LocalStack, short_request_timeout: float, wire: bytes) -> None:
    received, took = exchange(stack, wire)
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert b"connection: close" in received.lower()
    assert short_request_timeout <= took < short_request_timeout + 2


def test_a_body_over_api_gateways_limit_is_413_before_it_is_read(stack: LocalStack) -> None:
    wire = b"POST /slots HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % (runner.MAX_BODY_BYTES + 1)
    received, took = exchange(stack, wire)
    assert received.startswith(b"HTTP/1.1 413 "), received
    assert took < 2


def test_an_idle_keep_alive_connection_is_not_a_stalled_request(
    stack: LocalStack, short_request_timeout: float
) -> None:
    host, port = urlsplit(stack.url).hostname, urlsplit(stack.url).port
    with socket.create_connection((host, port), timeout=10) as connection:
        time.sleep(short_request_timeout * 2)  # nothing begun: the idle timeout (60 s) applies, not 408
        connection.sendall(b"GET /docs HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert connection.recv(65536).startswith(b"HTTP/1.1 200 ")


# -- property: no input gets a 5xx from the runner's own endpoints -----------------------------------


@st.composite
def local_requests(draw: st.DrawFn) -> dict[str, Any]:
    body = draw(
        st.one_of(
            st.none(),
            raw_bodies(),
            st.fixed_dictionaries(
                {}, optional={"now": odd_times, "role": st.text(max_size=10), "user": st.text(max_size=70)}
            ).map(json.dumps),
        )
    )
    return {
        "method": draw(st.sampled_from(["POST", "GET", "PUT", "OPTIONS"])),
        "path": draw(st.sampled_from(["/_local/token", "/_local/sweep", "/openapi.json", "/docs", "/_local/nothing"])),
        "data": body.encode("utf-8", "surrogatepass") if body is not None else None,
        "headers": {"Content-Type": draw(st.sampled_from(["application/json", "text/plain", "APPLICATION/JSON"]))},
    }


def test_no_local_request_gets_a_server_error(api: Api) -> None:
    @settings(
        max_examples=80,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example, HealthCheck.data_too_large],
    )
    @given(request=local_requests())
    def property(request: dict[str, Any]) -> None:
        answer = api.session.request(url=api.url + request.pop("path"), timeout=30, **request)
        assert answer.status_code < 500, answer.text
        assert answer.headers["x-content-type-options"] == "nosniff"

    property()
