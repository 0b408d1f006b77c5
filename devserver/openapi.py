"""`make openapi`: docs/openapi.json, one OpenAPI document for the whole API.

Each route declares its own facts on its decorator (summary, tags, security, its success and error
answers: see opd.api.openapi), each function's Powertools resolver writes its part of the document,
and Powertools' OpenAPIMerge joins the parts. What is left here is what Powertools cannot do:

- find the functions: template.yaml routes each endpoint to its function (OpenAPIMerge.discover()
  only finds files that call a resolver class by name; ours call `make_app()`);
- the document's own facts: title, version (pyproject.toml), description, the local server, and the
  definition of the bearer scheme the routes name (given when generating, so no function builds it
  at its cold start);
- take out what Powertools adds to every route and this API never answers, with the schemas only
  they use: 422 (an invalid request is 400 VALIDATION_ERROR) and 500 "Response Validation Error"
  (a response that breaks its model is 500 INTERNAL_ERROR, in the error envelope);
- refuse two functions that describe one schema name differently (OpenAPIMerge keeps the last).

That the document covers exactly the template's routes, with security on those behind the
authorizer, is checked by tests/e2e/test_openapi.py.

    python -m devserver.openapi --write docs/openapi.json   # regenerate
    python -m devserver.openapi --check docs/openapi.json   # exit 1 when the file is stale
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.openapi import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, SecurityScheme, Server

from devserver import make_importable
from devserver import template as templates
from opd.api.openapi import SECURITY_SCHEME

REPO_ROOT = Path(__file__).resolve().parent.parent
TITLE = "OPD token API"
LOCAL_SERVER = "http://127.0.0.1:3000"
DESCRIPTION = (
    "Books hospital outpatients into doctors' time slots: tiered capacity (STANDARD, PREMIUM, CRITICAL), "
    "doctor delays, cancellations, no-shows; the OPD room (call next, skip) and its public waiting-room board; "
    "doctors' recurring sessions and leave. Dates and `HH:MM` times in requests are the clinic's time zone's.\n\n"
    "Protected routes need `Authorization: Bearer <Cognito access token>`; the role is the token's "
    "`cognito:groups` (patient, reception, admin). Locally, `POST /_local/token` "
    '`{"role": "admin", "user": "me"}` returns one. A missing or invalid token is refused by '
    'API Gateway itself: 401 `{"message": "Unauthorized"}`.\n\n'
    'Every other error is `{"error": {"code", "message", "details"}}`.'
)
BEARER_TOKEN = HTTPBearer(bearerFormat="JWT", description="A Cognito access token; locally from POST /_local/token.")
SECURITY_SCHEMES: dict[str, SecurityScheme] = {SECURITY_SCHEME: BEARER_TOKEN}
NEVER_ANSWERED = ("422", "500")  # Powertools' request and response validation answers, see above
THEIR_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")


def version(repo_root: Path = REPO_ROOT) -> str:
    project = tomllib.loads((repo_root / "pyproject.toml").read_text(encoding="utf-8"))
    return str(project["project"]["version"])


def build_document(repo_root: Path = REPO_ROOT) -> dict[str, Any]:
    """The whole API's OpenAPI document: the template's functions' parts, merged by Powertools."""
    make_importable(repo_root)
    routes = templates.routes(templates.load_template(repo_root / "template.yaml"), repo_root).routes
    server = Server(url=LOCAL_SERVER, description="the local API runner (make serve)")
    merge = OpenAPIMerge(
        title=TITLE,
        version=version(repo_root),
        description=DESCRIPTION,
        servers=[server],
        security_schemes=SECURITY_SCHEMES,
        on_conflict="error",
    )
    seen: dict[str, Any] = {}
    for module in dict.fromkeys(route.function.module for route in sorted(routes, key=lambda r: (r.path, r.method))):
        resolver = importlib.import_module(module).app
        part = json.loads(resolver.get_openapi_json_schema(security_schemes=SECURITY_SCHEMES))
        for name, schema in part.get("components", {}).get("schemas", {}).items():
            if seen.setdefault(name, schema) != schema and name not in THEIR_SCHEMAS:
                raise ValueError(f"two functions describe the schema {name} differently; {module} is one")
        merge.add_schema(part)
    document: dict[str, Any] = json.loads(merge.get_openapi_json_schema())
    for item in document["paths"].values():
        for operation in item.values():
            for status in NEVER_ANSWERED:
                operation["responses"].pop(status, None)
    schemas = document["components"]["schemas"]
    document["components"]["schemas"] = {name: schemas[name] for name in sorted(schemas) if name not in THEIR_SCHEMAS}
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devserver.openapi", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", type=Path, metavar="PATH", help="write the document to PATH")
    mode.add_argument("--check", type=Path, metavar="PATH", help="exit 1 if PATH differs from what would be written")
    args = parser.parse_args(argv)
    text = render(build_document())
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text, encoding="utf-8")
        print(f"wrote {args.write}")
        return 0
    if not args.check.is_file() or args.check.read_text(encoding="utf-8") != text:
        print(f"{args.check} is stale: run `make openapi`", file=sys.stderr)
        return 1
    print(f"{args.check} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
