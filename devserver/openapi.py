"""`make openapi`: docs/openapi.json, one OpenAPI document for the whole API.

Each function's Powertools resolver describes its own route and models; this merges them, takes
routes and auth from template.yaml, and states what Powertools cannot know from the code: the
contract's success statuses, its error answers (400 instead of Powertools' 422) and the bearer token.

    python -m devserver.openapi --write docs/openapi.json   # regenerate
    python -m devserver.openapi --check docs/openapi.json   # exit 1 when the file is stale
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

from devserver import make_importable
from devserver import template as templates
from devserver.template import Route

REPO_ROOT = Path(__file__).resolve().parent.parent
TITLE = "OPD token API"
LOCAL_SERVER = "http://127.0.0.1:3000"
SECURITY_SCHEME = "cognitoJwt"
DESCRIPTION = (
    "Books hospital outpatients into doctors' time slots: tiered capacity (STANDARD, PREMIUM, CRITICAL), "
    "doctor delays, cancellations, no-shows.\n\n"
    "Protected routes need `Authorization: Bearer <Cognito access token>`; the role is the token's "
    "`cognito:groups` (patient, reception, admin). Locally, `POST /_local/token` "
    '`{"role": "admin", "user": "me"}` returns one.\n\n'
    'Every error is `{"error": {"code", "message", "details"}}`.'
)
CREATED = {"POST /slots", "POST /bookings"}  # the contract's 201s; everything else answers 200
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Error",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "enum": []},  # filled from the error map by error_schema()
                "message": {"type": "string"},
                "details": {"type": "array", "items": {"type": "object"}},
            },
        }
    },
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A repeat with the same key and body gets the first answer and books nothing more.",
    "schema": {"type": "string"},
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}


def version(repo_root: Path = REPO_ROOT) -> str:
    project = tomllib.loads((repo_root / "pyproject.toml").read_text(encoding="utf-8"))
    return str(project["project"]["version"])


def _error(description: str, **extra: Any) -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    return {"description": description, "content": content, **extra}


def _errors_of(route: Route, operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The contract's error answers a route can give (its "Errors" table, per endpoint)."""
    writes = route.method in ("POST", "PUT")
    errors = {}
    if operation.get("parameters") or operation.get("requestBody"):
        errors["400"] = _error("VALIDATION_ERROR: the request breaks the contract; details name each field")
    if not route.public:
        errors["401"] = _error("UNAUTHORIZED: missing or invalid bearer token")
        errors["403"] = _error("FORBIDDEN: the caller's role may not do this")
    if "{slotId}" in route.path or "{bookingId}" in route.path or route.route_key == "POST /bookings":
        errors["404"] = _error("NOT_FOUND: no such slot or booking")
    if writes:
        errors["409"] = _error("a conflict with the slot's state; `error.code` says which")
        if route.route_key != "POST /slots":
            errors["429"] = _error("SLOT_BUSY: the slot is busy; retry after Retry-After", headers=RETRY_AFTER)
    errors["503"] = _error("DEPENDENCY_UNAVAILABLE: Redis or MongoDB cannot be reached; nothing was written")
    return errors


def _describe(operation: dict[str, Any], route: Route) -> None:
    """Put the contract's statuses where Powertools wrote its defaults (200, 422, response-validation 500)."""
    responses: dict[str, Any] = operation["responses"]
    success = "201" if route.route_key in CREATED else "200"
    if success != "200" and "200" in responses and success not in responses:
        responses[success] = responses.pop("200")
        responses[success]["description"] = "Created"
    responses.pop("422", None)  # this API answers 400 VALIDATION_ERROR instead
    if responses.get("500", {}).get("description") == "Response Validation Error":
        del responses["500"]
    for status, response in _errors_of(route, operation).items():
        responses.setdefault(status, response)
    if route.route_key == "GET /health":
        responses["503"] = {**copy.deepcopy(responses[success]), "description": "Redis or MongoDB is down"}
    if route.route_key == "POST /bookings":
        parameters = operation.setdefault("parameters", [])
        if not any(parameter.get("name", "").lower() == "idempotency-key" for parameter in parameters):
            parameters.append(IDEMPOTENCY_KEY)
    if not route.public:
        operation["security"] = [{SECURITY_SCHEME: []}]
    operation["responses"] = dict(sorted(responses.items()))


def error_schema() -> dict[str, Any]:
    """The envelope, its codes taken from the handlers' error map so the two cannot drift apart."""
    from opd.api.errors import CODES

    schema = copy.deepcopy(ERROR_SCHEMA)
    schema["properties"]["error"]["properties"]["code"]["enum"] = list(CODES)
    return schema


def build_document(repo_root: Path = REPO_ROOT) -> dict[str, Any]:
    """The whole API's OpenAPI document, from the template's routes and each function's resolver."""
    make_importable(repo_root)
    routes = templates.routes(templates.load_template(repo_root / "template.yaml"), repo_root).routes
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": version(repo_root), "description": DESCRIPTION},
        "servers": [{"url": LOCAL_SERVER, "description": "the local API runner (make serve)"}],
        "paths": {},
        "components": {
            "schemas": {"Error": error_schema()},
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A Cognito access token; locally from POST /_local/token.",
                }
            },
        },
    }
    schemas: dict[str, Any] = document["components"]["schemas"]
    for route in sorted(routes, key=lambda route: (route.path, route.method)):
        resolver = importlib.import_module(route.function.module).app
        part = json.loads(resolver.get_openapi_json_schema(title=TITLE, version=version(repo_root)))
        operation = part.get("paths", {}).get(route.path, {}).get(route.method.lower())
        if operation is None:
            raise ValueError(
                f"{route.function.module} does not serve {route.route_key}, which template.yaml routes to it"
            )
        _describe(operation, route)
        document["paths"].setdefault(route.path, {})[route.method.lower()] = operation
        for name, schema in part.get("components", {}).get("schemas", {}).items():
            if name in schemas and schemas[name] != schema and name not in ("HTTPValidationError", "ValidationError"):
                raise ValueError(f"two functions describe the schema {name} differently")
            schemas.setdefault(name, schema)
    _drop_unused_schemas(document)
    return document


def _refs(value: Any) -> set[str]:
    """The component schemas `value` refers to, directly."""
    if isinstance(value, dict):
        found = {value["$ref"].rpartition("/")[2]} if isinstance(value.get("$ref"), str) else set()
        return found.union(*(_refs(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(_refs(item) for item in value))
    return set()


def _drop_unused_schemas(document: dict[str, Any]) -> None:
    """Powertools' 422 and response-validation schemas go once their answers are gone."""
    schemas: dict[str, Any] = document["components"]["schemas"]
    used, todo = set[str](), _refs(document["paths"])
    while todo:
        name = todo.pop()
        used.add(name)
        todo |= _refs(schemas.get(name)) - used
    document["components"]["schemas"] = {name: schemas[name] for name in sorted(schemas) if name in used}


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
