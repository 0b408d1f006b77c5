"""`make invoke FN=HealthFunction EVENT=events/health.json`: `sam local invoke` without Docker.

Runs one function of template.yaml (FN is its logical id, as for `sam local invoke`) once with the event
in the file, and prints what its handler returned, as JSON, on stdout; the function's logs go to stderr.
The handler runs as the local runner runs it: in a Lambda environment of devserver.lambdas, with the
template's environment (Globals and the function's own Variables, the values known without AWS), the
local defaults and then this process's environment. It talks to REDIS_URL / MONGODB_URI when they are
set, else to a redis-server and an nx-27017 of its own on free ports, empty and gone when it ends.

No token is checked: an API Gateway event carries its caller's claims
(requestContext.authorizer.jwt.claims), which the handler reads as in AWS. EVENT_BUS_NAME is left unset
unless given, so events stay in their slot's outbox, for the relay.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from devserver import REPO_ROOT
from devserver import template as templates
from devserver.lambdas import LOCAL_DEFAULTS, EnvironmentPool, FunctionFailed
from devserver.servers import given_or_own


def function_ids(template: dict[str, Any]) -> list[str]:
    resources = template.get("Resources", {})
    return sorted(name for name, resource in resources.items() if resource.get("Type") == "AWS::Serverless::Function")


def read_event(path: Path) -> dict[str, Any]:
    """The event in `path`; ValueError says what is wrong with the file."""
    try:
        event = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"event file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"event file {path} is not JSON: {error}") from None
    if not isinstance(event, dict):
        raise ValueError(f"event file {path} holds {type(event).__name__}, not a JSON object")
    return event


def invoke(template: dict[str, Any], logical_id: str, event: dict[str, Any], repo_root: Path = REPO_ROOT) -> Any:
    """What the function's handler returns for `event`; FunctionFailed if it raises or times out."""
    function = templates.function_of(template, logical_id, repo_root)
    with contextlib.ExitStack() as resources:
        workdir = resources.enter_context(tempfile.TemporaryDirectory(prefix="opd-invoke-"))
        redis_url, mongodb_uri = given_or_own(resources, Path(workdir))
        environ = {**templates.plain_environment(template, logical_id), **LOCAL_DEFAULTS, **os.environ}
        environ |= {"REDIS_URL": redis_url, "MONGODB_URI": mongodb_uri}
        pool = EnvironmentPool(environ, size=1, preload=[function.module])
        resources.callback(pool.close)
        return pool.invoke(function, event)


@contextlib.contextmanager
def stdout_kept_for_the_result() -> Iterator[TextIO]:
    """The real stdout, for the result alone; meanwhile file descriptor 1 (ours, the servers' and the
    Lambda environment's, which inherit it) writes to stderr, so logs never mix with the result."""
    sys.stdout.flush()
    result = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    try:
        yield result
    finally:
        sys.stdout.flush()
        result.flush()
        os.dup2(result.fileno(), 1)
        result.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devserver.invoke", description=__doc__.splitlines()[0])
    parser.add_argument("function", metavar="FN", help="the function's logical id in template.yaml")
    parser.add_argument("event", metavar="EVENT", type=Path, help="a JSON event file, e.g. events/health.json")
    args = parser.parse_args(argv)
    template = templates.load_template(REPO_ROOT / "template.yaml")
    known = function_ids(template)
    if args.function not in known:
        parser.error(f"no function {args.function!r} in template.yaml; its functions: {', '.join(known)}")
    try:
        event = read_event(args.event)
    except ValueError as error:
        parser.error(str(error))
    with stdout_kept_for_the_result() as out:
        try:
            result = invoke(template, args.function, event)
        except FunctionFailed as failure:
            print(f"{args.function} failed: {failure}", file=sys.stderr)
            return 1
        print(json.dumps(result), file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
