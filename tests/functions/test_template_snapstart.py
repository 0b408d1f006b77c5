"""What SAM makes of template.yaml: route functions on SnapStart behind their `live` alias, the API calling the alias.

The transform is SAM's own (samtranslator, from aws-sam-cli's venv, .venv-sam: `make setup` makes it),
run on the template with code locations as `sam package` leaves them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAM_PYTHON = Path(os.environ.get("SAM_PYTHON", ROOT / ".venv-sam" / "bin" / "python"))
TRANSFORM = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class NoManagedPolicies:
    def load(self):
        return {}

template = yaml_parse(open(sys.argv[1]).read())
for resource in template["Resources"].values():
    for key in ("CodeUri", "ContentUri"):
        if key in resource.get("Properties", {}):
            resource["Properties"][key] = "s3://bucket/code.zip"
print(json.dumps(transform(template, {"CognitoDomainPrefix": "opd-test"}, NoManagedPolicies())))
"""
NOT_ROUTES = {
    "SweepNoShowsFunction",
    "RelayEventsFunction",
    "PublishEventsFunction",
    "NotifySmsFunction",
}  # scheduled or event-driven
NOT_ROUTES |= {"AbdmOnShareFunction"}  # the on-share queue's consumer
NOT_ROUTES |= {"AuthDefineChallengeFunction"}  # a Cognito trigger without I/O (Create and Verify have snapshots)


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    assert SAM_PYTHON.exists(), f"{SAM_PYTHON} is missing: `make setup` makes aws-sam-cli's venv"
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run(
        [str(SAM_PYTHON), "-c", TRANSFORM, str(ROOT / "template.yaml")],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    transformed: dict[str, Any] = json.loads(done.stdout)
    return transformed["Resources"]  # type: ignore[no-any-return]


def functions(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}


def test_route_functions_are_arm64_with_snapstart_on_published_versions(resources: dict[str, Any]) -> None:
    found = functions(resources)
    assert len(found) >= 16
    for name, properties in found.items():
        assert properties["Architectures"] == ["arm64"], name
        expected = "None" if name in NOT_ROUTES else "PublishedVersions"
        assert properties["SnapStart"] == {"ApplyOn": expected}, name


def test_every_route_is_integrated_with_the_live_alias(resources: dict[str, Any]) -> None:
    paths = resources["HttpApi"]["Properties"]["Body"]["paths"]
    routes = [(path, method, op) for path, methods in paths.items() for method, op in methods.items()]
    assert len(routes) >= 15
    aliases = {name for name, r in resources.items() if r["Type"] == "AWS::Lambda::Alias"}
    for path, method, operation in routes:
        uri = operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        target = uri.split("/functions/${", 1)[1].split("}", 1)[0]
        assert target in aliases, f"{method.upper()} {path} calls {target}, not an alias"
        assert resources[target]["Properties"]["Name"] == "live"
    permissions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
    api_permissions = [p for p in permissions if p.get("Principal") == "apigateway.amazonaws.com"]
    assert api_permissions
    assert all(p["FunctionName"]["Ref"] in aliases for p in api_permissions)


def test_the_layer_is_for_arm64(resources: dict[str, Any]) -> None:
    layers = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::LayerVersion"]
    assert [layer["CompatibleArchitectures"] for layer in layers] == [["arm64"]]
