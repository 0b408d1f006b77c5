"""docs/openapi.json is what `make openapi` would write now, and it describes the template's routes."""

from __future__ import annotations

import json
from pathlib import Path

from devserver import openapi
from devserver import template as templates

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = REPO_ROOT / "docs" / "openapi.json"


def test_the_committed_document_is_up_to_date() -> None:
    fresh = openapi.render(openapi.build_document(REPO_ROOT))
    assert DOCUMENT.read_text(encoding="utf-8") == fresh, "docs/openapi.json is stale: run `make openapi`"


def test_every_route_is_documented_with_its_auth() -> None:
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    routes = templates.routes(templates.load_template(REPO_ROOT / "template.yaml"), REPO_ROOT).routes
    documented = {f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item}
    assert documented == {route.route_key for route in routes}
    for route in routes:
        operation = document["paths"][route.path][route.method.lower()]
        assert ("security" in operation) is not route.public, route.route_key
        assert not {"422"} & set(operation["responses"]), "the API answers 400, never Powertools' 422"
