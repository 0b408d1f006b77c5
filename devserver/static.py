"""The web pages of `web/` at the API's origin, as `make serve` serves them (CloudFront serves them in AWS).

Only files directly in the folder or directly in its `vendor/` (the third-party files the pages load, e.g.
`/vendor/qrcode-generator.js`), and only of the listed types: `/desk.html`, `/board.js`, `/config.json` ...
A name is matched as it was sent, never decoded or normalised, so `/..%2fREADME.md` or `/x/../desk.html`
is simply not a name of a file here (404). `config.json` gets the hospital's name the slips print from
HOSPITAL_NAME (default "OPD") where its `hospitalName` is empty, as the deploy step fills it from the stack.
The headers are those of the deployed pages: no-cache, nosniff, and a Content-Security-Policy that lets the
pages load their own files and call the API (same origin), plus the Cognito domain and API base named in
`config.json` when the deploy step filled them in.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from devserver.apigw import HttpAnswer

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",  # what module scripts must be served as
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
# One segment, no dot-only or hidden names; or one such segment under vendor/ (never deeper).
_NAME = re.compile(r"/(?:(vendor)/)?([A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*)")


def content_security_policy(web_root: Path) -> str:
    """The pages' policy: their own files only; fetch also to the Cognito domain and API base of config.json."""
    connect = ["'self'"]
    try:
        config = json.loads((web_root / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    for key in ("cognitoDomain", "apiBase"):
        value = config.get(key) if isinstance(config, dict) else None
        parts = urlsplit(value) if isinstance(value, str) else None
        if (
            parts
            and parts.scheme in ("https", "http")
            and parts.netloc
            and re.fullmatch(r"[A-Za-z0-9.:-]+", parts.netloc)
        ):
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin not in connect:
                connect.append(origin)
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",  # the pages' favicon is `data:,`
            f"connect-src {' '.join(connect)}",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        ]
    )


def static_file(web_root: Path, path: str) -> HttpAnswer | None:
    """The file `path` names in `web_root` with its headers, or None when it names none (the caller answers 404)."""
    match = _NAME.fullmatch(path)
    if match is None:
        return None
    folder, name = match.group(1), match.group(2)
    content_type = CONTENT_TYPES.get(Path(name).suffix.lower())
    if content_type is None:
        return None
    root = web_root.resolve()
    home = root / folder if folder else root
    file = (home / name).resolve()
    if file.parent != home or not file.is_file():  # also a symlink (of the file or of vendor/) out of its folder
        return None
    body = file.read_bytes()
    if folder is None and name == "config.json":
        body = with_hospital_name(body)
    headers = [
        ("content-type", content_type),
        ("cache-control", "no-cache"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("content-security-policy", content_security_policy(root)),
    ]
    return HttpAnswer(200, headers, body)


def with_hospital_name(config: bytes) -> bytes:
    """config.json with an empty (or missing) `hospitalName` set to HOSPITAL_NAME, else "OPD"; as it was otherwise."""
    try:
        parsed = json.loads(config)
    except ValueError:
        return config
    if not isinstance(parsed, dict):
        return config
    given = parsed.get("hospitalName")
    if isinstance(given, str) and given.strip():
        return config
    parsed["hospitalName"] = os.environ.get("HOSPITAL_NAME", "").strip() or "OPD"
    return (json.dumps(parsed, ensure_ascii=False) + "\n").encode("utf-8")
