"""What the local runner needs from template.yaml: the HTTP routes, their functions and the shared settings.

The template is the single source of truth for routes and auth, so the runner serves exactly what
API Gateway would, without a second list to keep in step.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any


def load_template(path: Path) -> dict[str, Any]:
    """The template as plain data; cfn-lint's parser reads the short forms, `!Ref X` as `{"Ref": "X"}`."""
    import cfnlint.decode  # half a second to import: only where a template is read, not in every Lambda environment

    loaded, problems = cfnlint.decode.decode(str(path))
    if problems or not isinstance(loaded, dict):
        raise ValueError(f"{path} is not a template: {'; '.join(problem.message for problem in problems)}")
    return loaded


@dataclass(frozen=True)
class Function:
    """One AWS::Serverless::Function, as the runner calls it in-process."""

    logical_id: str
    name: str  # the directory under functions/, e.g. "create_booking"
    module: str  # e.g. "functions.create_booking.app"
    handler: str  # the attribute, e.g. "lambda_handler"
    timeout_s: int
    memory_mb: int


@dataclass(frozen=True)
class Route:
    method: str  # "GET", ... or "ANY"
    path: str  # "/slots/{slotId}"
    function: Function
    public: bool  # no authorizer: API Gateway passes every request through

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, path: str) -> dict[str, str] | None:
        found = _path_pattern(self.path).fullmatch(path)
        return None if found is None else found.groupdict()


@cache
def _path_pattern(path: str) -> re.Pattern[str]:
    """`/slots/{slotId}` -> a regex with a named group per parameter; `{proxy+}` is greedy."""
    parts: list[str] = []
    for piece in re.split(r"(\{[^}]+\})", path):
        if piece.startswith("{") and piece.endswith("}"):
            name = piece[1:-1]
            parts.append(f"(?P<{name[:-1]}>.+)" if name.endswith("+") else f"(?P<{name}>[^/]+)")
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts))


def _specificity(route: Route) -> tuple[int, int]:
    """API Gateway prefers literal segments over parameters, and a method over ANY."""
    literal = sum(1 for segment in route.path.split("/") if segment and not segment.startswith("{"))
    return (-literal, route.method == "ANY")


class RouteTable:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = sorted(routes, key=_specificity)

    def find(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method in (method, "ANY") and (params := route.match(path)) is not None:
                return route, params
        return None


def _globals(template: dict[str, Any], kind: str) -> dict[str, Any]:
    found = template.get("Globals", {}).get(kind, {})
    return found if isinstance(found, dict) else {}


def function_of(template: dict[str, Any], logical_id: str, repo_root: Path) -> Function:
    defaults = _globals(template, "Function")
    properties = {**defaults, **template["Resources"][logical_id].get("Properties", {})}
    code_dir = Path(str(properties["CodeUri"]).rstrip("/"))
    handler_module, _, handler = str(properties.get("Handler", "app.lambda_handler")).rpartition(".")
    if code_dir.is_absolute():
        code_dir = code_dir.relative_to(repo_root)
    return Function(
        logical_id=logical_id,
        name=code_dir.name,
        module=".".join([*code_dir.parts, handler_module]),
        handler=handler,
        timeout_s=int(_known(template, properties.get("Timeout")) or 3),  # Lambda's defaults
        memory_mb=int(_known(template, properties.get("MemorySize")) or 128),
    )


def _default_authorizer(template: dict[str, Any], api: Any) -> str | None:
    """The authorizer a route gets when its event names none: its HttpApi's, else Globals.HttpApi's."""
    api_id = api.get("Ref") if isinstance(api, dict) else None
    resources = template.get("Resources", {})
    api_properties = resources.get(api_id, {}).get("Properties", {}) if api_id else _globals(template, "HttpApi")
    authorizer = api_properties.get("Auth", {}).get("DefaultAuthorizer")
    return str(authorizer) if authorizer else None


def routes(template: dict[str, Any], repo_root: Path) -> RouteTable:
    found: list[Route] = []
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") != "HttpApi":
                continue
            properties = event.get("Properties", {})
            authorizer = properties.get("Auth", {}).get("Authorizer") or _default_authorizer(
                template, properties.get("ApiId")
            )
            found.append(
                Route(
                    method=str(properties["Method"]).upper().replace("*", "ANY"),
                    path=str(properties["Path"]),
                    function=function_of(template, logical_id, repo_root),
                    public=authorizer in (None, "NONE"),
                )
            )
    return RouteTable(found)


def function_named(template: dict[str, Any], name: str, repo_root: Path) -> Function:
    """A function by its directory name, also one without an HTTP route (the sweeper)."""
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::Function":
            function = function_of(template, logical_id, repo_root)
            if function.name == name:
                return function
    return Function(name, name, f"functions.{name}.app", "lambda_handler", timeout_s=60, memory_mb=128)


def plain_environment(template: dict[str, Any], logical_id: str | None = None) -> dict[str, str]:
    """Globals.Function environment values the runner can know: literals and `!Ref Parameter` defaults.

    Given a function's logical id, its own Environment Variables are merged over the Globals, as SAM does.
    Secret names and other resource references only make sense in AWS, so they are left out.
    """
    variables = dict(_globals(template, "Function").get("Environment", {}).get("Variables", {}))
    if logical_id is not None:
        properties = template["Resources"][logical_id].get("Properties", {})
        variables |= properties.get("Environment", {}).get("Variables", {})
    plain: dict[str, str] = {}
    for name, written in variables.items():
        value = _known(template, written)
        if value is not None and not name.endswith("_SECRET"):
            plain[name] = value
    return plain


def _known(template: dict[str, Any], written: Any) -> str | None:
    """A literal, or the default of the parameter a `!Ref` names; None for what only AWS knows."""
    if isinstance(written, dict):  # an intrinsic function, e.g. {"Ref": "ClinicTimeZone"}
        name = written.get("Ref") if len(written) == 1 else None
        written = template.get("Parameters", {}).get(name, {}).get("Default") if isinstance(name, str) else None
    if isinstance(written, bool):
        return str(written).lower()
    return str(written) if isinstance(written, str | int | float) else None


@dataclass(frozen=True)
class Cors:
    """An HttpApi's CorsConfiguration: API Gateway answers preflight requests itself."""

    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...]
    allow_headers: tuple[str, ...]
    expose_headers: tuple[str, ...]
    max_age: str | None

    def allowed_origin(self, origin: str) -> str | None:
        if "*" in self.allow_origins:
            return "*"
        return origin if origin in self.allow_origins else None

    def preflight_headers(self, origin: str) -> list[tuple[str, str]]:
        allowed = self.allowed_origin(origin)
        if allowed is None:
            return []
        headers = [
            ("access-control-allow-origin", allowed),
            ("access-control-allow-methods", ",".join(self.allow_methods)),
            ("access-control-allow-headers", ",".join(self.allow_headers)),
        ]
        return headers + ([("access-control-max-age", self.max_age)] if self.max_age else [])

    def answer_headers(self, origin: str) -> list[tuple[str, str]]:
        allowed = self.allowed_origin(origin)
        if allowed is None:
            return []
        exposed = [("access-control-expose-headers", ",".join(self.expose_headers))] if self.expose_headers else []
        return [("access-control-allow-origin", allowed), *exposed]


def cors(template: dict[str, Any]) -> Cors | None:
    apis = (
        resource
        for resource in template.get("Resources", {}).values()
        if resource.get("Type") == "AWS::Serverless::HttpApi"
    )
    config = next(
        (api["Properties"]["CorsConfiguration"] for api in apis if "CorsConfiguration" in api.get("Properties", {})),
        None,
    )
    if not isinstance(config, dict):
        return None

    def listed(name: str) -> tuple[str, ...]:
        values = (_known(template, value) for value in config.get(name, []))
        return tuple(value for value in values if value is not None)

    return Cors(
        allow_origins=listed("AllowOrigins"),
        allow_methods=listed("AllowMethods"),
        allow_headers=listed("AllowHeaders"),
        expose_headers=listed("ExposeHeaders"),
        max_age=_known(template, config.get("MaxAge")),
    )


def schedule_input(template: dict[str, Any], function: Function) -> dict[str, Any]:
    """The Input of the function's schedule (ScheduleV2 / Schedule event), `{}` when it sets none."""
    events = template["Resources"].get(function.logical_id, {}).get("Properties", {}).get("Events", {})
    for event in events.values():
        if event.get("Type") in ("ScheduleV2", "Schedule") and isinstance(
            event.get("Properties", {}).get("Input"), str
        ):
            found = json.loads(event["Properties"]["Input"])
            return found if isinstance(found, dict) else {}
    return {}


def event_rule_pattern(template: dict[str, Any], function: Function) -> dict[str, Any]:
    """The pattern of the function's EventBridgeRule event: which events of the bus it is given."""
    events = template["Resources"].get(function.logical_id, {}).get("Properties", {}).get("Events", {})
    for event in events.values():
        if event.get("Type") == "EventBridgeRule" and isinstance(event.get("Properties", {}).get("Pattern"), dict):
            pattern: dict[str, Any] = event["Properties"]["Pattern"]
            return pattern
    raise ValueError(f"{function.logical_id} has no EventBridgeRule event")


def scheduled_input(template_input: dict[str, Any]) -> dict[str, Any]:
    """A scheduled function's event (the sweeper's, the relay's): the schedule's Input, EventBridge Scheduler's
    placeholders filled in."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    values = {
        "<aws.scheduler.schedule-arn>": "arn:aws:scheduler:us-east-1:123456789012:schedule/default/opd-local-sweep",
        "<aws.scheduler.scheduled-time>": now,
        "<aws.scheduler.execution-id>": str(uuid.uuid4()),
        "<aws.scheduler.attempt-number>": "1",
    }
    return {
        name: values.get(value, value) if isinstance(value, str) else value for name, value in template_input.items()
    }


def cognito_triggers(template: dict[str, Any], repo_root: Path) -> dict[str, Function]:
    """The functions of the user pool's LambdaConfig, by trigger (`DefineAuthChallenge`, ...): what the local
    Cognito front invokes as Cognito would. A trigger named by `!Ref <Function>.Alias` or `!GetAtt <Function>.Arn`."""
    found: dict[str, Function] = {}
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") != "AWS::Cognito::UserPool":
            continue
        for trigger, target in resource.get("Properties", {}).get("LambdaConfig", {}).items():
            logical_id = _function_named_by(target)
            if logical_id is not None and logical_id in template["Resources"]:
                found[trigger] = function_of(template, logical_id, repo_root)
    return found


def _function_named_by(target: Any) -> str | None:
    if isinstance(target, dict) and isinstance(target.get("Ref"), str):
        return str(target["Ref"]).removesuffix(".Alias")
    if isinstance(target, dict) and isinstance(target.get("Fn::GetAtt"), list) and target["Fn::GetAtt"]:
        return str(target["Fn::GetAtt"][0])
    return None
