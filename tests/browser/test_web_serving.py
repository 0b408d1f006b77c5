"""The local runner serves web/ at the API's origin: the right types and headers, nothing outside the folder.

Requests go out with http.client, which sends a path exactly as written (requests would normalise `..`).
"""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from devserver.runner import LocalStack
from devserver.static import content_security_policy, static_file

pytestmark = pytest.mark.xdist_group("browser")

WEB = Path(__file__).resolve().parents[2] / "web"
HOSPITAL = os.environ.get("HOSPITAL_NAME", "").strip() or "OPD"  # what the local server puts in config.json


def fetch(stack: LocalStack, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    address = urlsplit(stack.url)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=30)
    try:
        connection.request(method, path)
        answer = connection.getresponse()
        return answer.status, {name.lower(): value for name, value in answer.getheaders()}, answer.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/desk.html", "text/html; charset=utf-8"),
        ("/board.html", "text/html; charset=utf-8"),
        ("/desk.js", "text/javascript; charset=utf-8"),
        ("/board.js", "text/javascript; charset=utf-8"),
        ("/api.js", "text/javascript; charset=utf-8"),
        ("/auth.js", "text/javascript; charset=utf-8"),
        ("/desk.css", "text/css; charset=utf-8"),
        ("/board.css", "text/css; charset=utf-8"),
        ("/config.json", "application/json"),
        ("/app.html", "text/html; charset=utf-8"),
        ("/status.html", "text/html; charset=utf-8"),
        ("/patient.css", "text/css; charset=utf-8"),
        ("/ui.js", "text/javascript; charset=utf-8"),
        ("/i18n.js", "text/javascript; charset=utf-8"),
        ("/i18n-en.json", "application/json"),  # the catalogs: directly in web/, as every served file
        ("/i18n-hi.json", "application/json"),
        ("/i18n-ta.json", "application/json"),
        ("/slip.html", "text/html; charset=utf-8"),
        ("/slip.js", "text/javascript; charset=utf-8"),
        ("/slip.css", "text/css; charset=utf-8"),
        ("/vendor/qrcode-generator.js", "text/javascript; charset=utf-8"),  # web/vendor/: one level, no deeper
    ],
)
def test_each_file_of_the_pages_is_served_with_its_type_and_headers(
    web_stack: LocalStack, path: str, content_type: str
) -> None:
    status, headers, body = fetch(web_stack, path)
    assert status == 200
    if path == "/config.json":  # the hospital's name filled in (HOSPITAL_NAME, default "OPD"), the rest as it is
        assert json.loads(body) == json.loads((WEB / "config.json").read_bytes()) | {"hospitalName": HOSPITAL}
    else:
        assert body == (WEB / path.lstrip("/")).read_bytes()
    assert headers["content-type"] == content_type
    assert headers["cache-control"] == "no-cache"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-length"] == str(len(body))
    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self';" in policy  # no 'unsafe-inline', no 'unsafe-eval'
    assert "connect-src 'self';" in policy  # web/config.json names no other origin
    assert "frame-ancestors 'none'" in policy


def test_head_answers_the_headers_without_the_body(web_stack: LocalStack) -> None:
    status, headers, body = fetch(web_stack, "/desk.html", method="HEAD")
    assert (status, body) == (200, b"")
    assert headers["content-length"] == str((WEB / "desk.html").stat().st_size)


@pytest.mark.parametrize(
    "path",
    [
        "/..%2f..%2fetc/passwd",
        "/..%2fREADME.md",
        "/%2e%2e/README.md",
        "/../README.md",
        "/web/../README.md",
        "/./desk.html",
        "//desk.html",
        "/desk.html/",
        "/desk.html%00.js",
        "/%64esk.html",  # an escaped letter is not decoded either: only names as they are
        "/README.md",  # in web/, but not of a type that is served
        "/web/desk.html",  # the folder's own name is not part of the address
        "/.gitignore",
        "/desk",
        "/",
        "/etc/passwd",
        "/devserver/gateway.py",
        "/template.yaml",
        "/vendor/",
        "/vendor/qrcode-generator.LICENSE",  # not of a served type
        "/vendor/../desk.html",
        "/vendor/%2e%2e/desk.html",
        "/VENDOR/qrcode-generator.js",
        "/desk.html/vendor/qrcode-generator.js",
    ],
)
def test_nothing_else_is_served(web_stack: LocalStack, path: str) -> None:
    status, headers, body = fetch(web_stack, path)
    assert status == 404, (path, body[:200])
    assert json.loads(body)["error"]["code"] == "NOT_FOUND"
    assert "content-security-policy" not in headers


def test_only_get_and_head_read_a_page(web_stack: LocalStack) -> None:
    status, _, body = fetch(web_stack, "/desk.html", method="POST")
    assert status == 404
    assert json.loads(body)["error"]["code"] == "NOT_FOUND"


def test_the_api_is_still_the_api(web_stack: LocalStack) -> None:
    status, headers, body = fetch(web_stack, "/health")
    assert status == 200
    assert json.loads(body)["status"] == "ok"
    assert "content-security-policy" not in headers


def test_only_files_directly_in_the_folder_of_a_listed_type(tmp_path: Path) -> None:
    root = tmp_path / "web"
    (root / "sub").mkdir(parents=True)
    (root / "page.html").write_text("<p>hi</p>")
    (root / "notes.txt").write_text("secret")
    (root / "sub" / "deep.js").write_text("1")
    (tmp_path / "outside.js").write_text("outside")
    (root / "link.js").symlink_to(tmp_path / "outside.js")
    (root / "dir.css").mkdir()

    found = static_file(root, "/page.html")
    assert found is not None
    assert (found.status, found.body) == (200, b"<p>hi</p>")
    for path in ("/notes.txt", "/sub/deep.js", "/link.js", "/dir.css", "/missing.html", "/.html", "/page.HTML.txt"):
        assert static_file(root, path) is None, path


def test_vendor_files_one_level_down_and_no_vendor_that_leads_out(tmp_path: Path) -> None:
    root = tmp_path / "web"
    (root / "vendor" / "deeper").mkdir(parents=True)
    (root / "vendor" / "lib.js").write_text("export default 1;")
    (root / "vendor" / "deeper" / "x.js").write_text("1")
    (tmp_path / "outside.js").write_text("outside")
    (root / "vendor" / "link.js").symlink_to(tmp_path / "outside.js")

    found = static_file(root, "/vendor/lib.js")
    assert found is not None and found.body == b"export default 1;"
    for path in ("/vendor/deeper/x.js", "/vendor/link.js", "/vendor/missing.js", "/lib.js", "/sub/lib.js"):
        assert static_file(root, path) is None, path
    # vendor/ itself a link out of the folder: nothing under it is served
    (root / "vendor" / "lib.js").unlink()
    (root / "vendor" / "link.js").unlink()
    (root / "vendor" / "deeper" / "x.js").unlink()
    (root / "vendor" / "deeper").rmdir()
    (root / "vendor").rmdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "lib.js").write_text("1")
    (root / "vendor").symlink_to(tmp_path / "elsewhere")
    assert static_file(root, "/vendor/lib.js") is None


def test_config_json_gets_the_hospitals_name_from_the_environment_unless_it_has_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"apiBase": "", "hospitalName": ""}))
    monkeypatch.delenv("HOSPITAL_NAME", raising=False)
    found = static_file(tmp_path, "/config.json")
    assert found is not None and json.loads(found.body) == {"apiBase": "", "hospitalName": "OPD"}
    monkeypatch.setenv("HOSPITAL_NAME", "सिटी अस्पताल, Pune")
    found = static_file(tmp_path, "/config.json")
    assert found is not None and json.loads(found.body)["hospitalName"] == "सिटी अस्पताल, Pune"
    (tmp_path / "config.json").write_text(json.dumps({"hospitalName": "Deployed General"}))  # the deploy step's
    found = static_file(tmp_path, "/config.json")
    assert found is not None and json.loads(found.body) == {"hospitalName": "Deployed General"}


def test_the_policy_lets_the_pages_reach_the_configured_cognito_domain_and_api(tmp_path: Path) -> None:
    assert "connect-src 'self';" in content_security_policy(tmp_path)  # no config.json: same origin only
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "apiBase": "https://abc123.execute-api.ap-south-1.amazonaws.com",
                "cognitoDomain": "https://opd-city.auth.ap-south-1.amazoncognito.com/",
                "clientId": "x",
                "redirectUri": "https://d1.cloudfront.net/desk.html",
            }
        )
    )
    assert (
        "connect-src 'self' https://opd-city.auth.ap-south-1.amazoncognito.com "
        "https://abc123.execute-api.ap-south-1.amazonaws.com;"
    ) in content_security_policy(tmp_path)
    # A value that is not an origin does not reach the policy.
    (tmp_path / "config.json").write_text(json.dumps({"apiBase": "/prod", "cognitoDomain": "x; script-src *"}))
    assert "connect-src 'self';" in content_security_policy(tmp_path)
