"""What template.yaml watches: its alarms, its dashboard, and the service's own metrics (namespace OPD) they name.

Shared by the template's test (tests/functions/test_template_alarms.py) and the test that runs a demo-like day and
finds each of those metrics among the EMF lines the functions printed (tests/e2e/test_emf_metrics.py).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from devserver.template import load_template

ROOT = Path(__file__).resolve().parents[2]
ALARM_TYPES = ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")
SEARCHED = re.compile(r"SEARCH\('\{(?P<namespace>[^,}]+)[^}]*\}[^']*MetricName=\"(?P<name>[^\"]+)\"")


@cache
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def resources(kind: str) -> dict[str, dict[str, Any]]:
    """The template's resources of one type, by logical id."""
    return {name: r for name, r in template()["Resources"].items() if r["Type"] == kind}


def alarms() -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template()["Resources"].items() if r["Type"] in ALARM_TYPES}


def watched_metrics(alarm: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(namespace, metric, statistic) of each metric an alarm reads, itself or in its metric math."""
    props = alarm["Properties"]
    if "MetricName" in props:
        return [(props["Namespace"], props["MetricName"], props["Statistic"])]
    found = []
    for query in props.get("Metrics", []):
        if "MetricStat" in query:
            stat = query["MetricStat"]
            found.append((stat["Metric"]["Namespace"], stat["Metric"]["MetricName"], stat["Stat"]))
    return found


def dashboard_body() -> dict[str, Any]:
    """The dashboard's JSON, each `${...}` of its !Sub read as a placeholder."""
    (dashboard,) = resources("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    loaded: dict[str, Any] = json.loads(re.sub(r"\$\{([^}]+)\}", r"<\1>", body))
    return loaded


def dashboard_metrics() -> set[tuple[str, str]]:
    """(namespace, metric) of every metric a widget graphs: listed, or found by a SEARCH expression."""
    found = set()
    for widget in dashboard_body()["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            if isinstance(row[0], dict):
                expression = row[0]["expression"]
                found |= {(m["namespace"], m["name"]) for m in SEARCHED.finditer(expression)}
                assert SEARCHED.search(expression), f"an expression the test cannot read: {expression}"
            else:
                found.add((row[0], row[1]))
    return found


def service_metrics() -> set[str]:
    """The metrics of the service's own namespace (OPD) that an alarm, the anomaly detector or a widget uses."""
    namespace = template()["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    names = {name for space, name in dashboard_metrics() if space == namespace}
    for alarm in alarms().values():
        names |= {name for space, name, _ in watched_metrics(alarm) if space == namespace}
    for detector in resources("AWS::CloudWatch::AnomalyDetector").values():
        metric = detector["Properties"]["SingleMetricAnomalyDetector"]
        if metric["Namespace"] == namespace:
            names.add(metric["MetricName"])
    return names
