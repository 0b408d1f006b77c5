"""API Gateway, Lambda and Cognito on this machine: `make serve`, the e2e tests and the demo run the API through it.

runner (the HTTP server and what it starts), gateway (routing, the JWT authorizer, local-only endpoints),
apigw (the payload 2.0 event and answer), lambdas (the execution environments), template (routes and
settings from template.yaml), cognito and auth (the local user pool, token checks), servers (our own
redis-server and nx-27017), openapi (`make openapi`).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def make_importable(repo_root: Path = REPO_ROOT) -> None:
    """Functions import `functions.<name>.app` and `opd` (the layer), as they do in Lambda."""
    for path in (repo_root / "layers" / "allocator", repo_root):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))  # spawned Lambda environments start with this sys.path


# The emulation shares the layer's words (the id pattern, the roles, the error envelope): it imports them.
make_importable()
