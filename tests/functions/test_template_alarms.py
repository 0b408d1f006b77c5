"""template.yaml's operations (issue 24): every alarm the runbook describes, watching its metric with its statistic
against its threshold parameter and notifying the one topic; the dashboard naming only metrics the code emits; the
API's throttling. That the metrics are really emitted, with these names, is tests/e2e/test_emf_metrics.py's part.
"""

from __future__ import annotations

import re
from typing import Any

from devserver import template as templates
from tests.support import monitoring
from tests.support.monitoring import ROOT, alarms, dashboard_body, dashboard_metrics, template, watched_metrics

TOPIC = {"Ref": "AlarmTopic"}
# logical id: the metrics it reads ((namespace, name, statistic), in any order), and its threshold parameter.
ALARMS: dict[str, tuple[set[tuple[str, str, str]], str]] = {
    "Api5xxRateAlarm": ({("AWS/ApiGateway", "5xx", "Sum"), ("AWS/ApiGateway", "Count", "Sum")}, "Api5xxRatePercent"),
    "WriteRoutesFailingAlarm": (
        {("AWS/Lambda", "Errors", "Sum"), ("AWS/Lambda", "Throttles", "Sum")},
        "FunctionFailuresThreshold",
    ),
    **{
        name: ({("AWS/Lambda", "Errors", "Sum"), ("AWS/Lambda", "Throttles", "Sum")}, "FunctionFailuresThreshold")
        for name in (
            "SweepNoShowsFailingAlarm",
            "RelayEventsFailingAlarm",
            "PublishEventsFailingAlarm",
            "NotifySmsFailingAlarm",
            "AbdmOnShareFailingAlarm",
            "SignInTriggersFailingAlarm",
        )
    },
    "NotifyDeadLetterAlarm": (
        {("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum")},
        "DeadLetterMessagesThreshold",
    ),
    "AbdmOnShareDeadLetterAlarm": (
        {("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum")},
        "DeadLetterMessagesThreshold",
    ),
    "UnpublishedEventsAlarm": ({("OPD", "OldestUnpublishedEventAge", "Maximum")}, "UnpublishedEventAgeSeconds"),
    "SweeperSilentAlarm": ({("OPD", "SweeperHeartbeat", "Sum")}, "SweeperMissedRuns"),
    "SmsSpendAlarm": ({("OPD", "SmsSpendPercent", "Maximum")}, "SmsSpendAlarmPercent"),
    "OnShareFailuresAlarm": ({("OPD", "OnSharesFailed", "Sum")}, "OnShareFailuresThreshold"),
    "OtpRateAnomalyAlarm": ({("OPD", "OtpCodesSent", "Sum")}, "OtpAnomalyBandWidth"),
    "OtpRateFloorAlarm": ({("OPD", "OtpCodesSent", "Sum")}, "OtpCodesFloor"),
}
# Parts of a composite alarm: they notify nobody themselves, the composite does.
PARTS = {"OtpRequestRateAlarm": {"OtpRateAnomalyAlarm", "OtpRateFloorAlarm"}}
# Functions no caller waits on: their failures reach no one unless an alarm watches them.
BACKGROUND = {
    "SweepNoShowsFunction",
    "RelayEventsFunction",
    "PublishEventsFunction",
    "NotifySmsFunction",
    "AbdmOnShareFunction",
    "AuthDefineChallengeFunction",
    "AuthCreateChallengeFunction",
    "AuthVerifyChallengeFunction",
}


def refs(value: Any) -> set[str]:
    """Every name a Ref, GetAtt or ${...} of a Sub in `value` names."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref":
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else inner.split(".")[0])
            elif key == "Fn::Sub":
                text = inner if isinstance(inner, str) else inner[0]
                found |= {name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text)}
            else:
                found |= refs(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= refs(inner)
    return found


def test_every_alarm_watches_its_metric_with_its_statistic_against_its_threshold_parameter() -> None:
    found = {name for name, alarm in alarms().items() if alarm["Type"] == "AWS::CloudWatch::Alarm"}
    assert found == set(ALARMS)
    parameters = template()["Parameters"]
    for name, (metrics, parameter) in ALARMS.items():
        props = alarms()[name]["Properties"]
        assert set(watched_metrics(alarms()[name])) == metrics, name
        assert parameter in refs(props), f"{name} does not read its threshold from {parameter}"
        assert "Default" in parameters[parameter], f"{parameter} needs a default: a first deploy must not ask for it"


def test_every_alarm_notifies_the_topic_and_clears_there_too() -> None:
    parts = set().union(*PARTS.values())
    for name, alarm in alarms().items():
        props = alarm["Properties"]
        if name in parts:
            assert "AlarmActions" not in props and "OKActions" not in props, f"{name} is a part: the composite notifies"
        else:
            assert (props["AlarmActions"], props["OKActions"]) == ([TOPIC], [TOPIC]), name
            assert "docs/runbook.md#" in props["AlarmDescription"], f"{name} does not point at its runbook entry"


def test_the_unusual_otp_rate_is_the_anomaly_band_and_the_floor_together() -> None:
    (composite,) = monitoring.resources("AWS::CloudWatch::CompositeAlarm").values()
    rule = composite["Properties"]["AlarmRule"]["Fn::Sub"]
    assert rule == 'ALARM("${OtpRateAnomalyAlarm}") AND ALARM("${OtpRateFloorAlarm}")'
    anomaly = alarms()["OtpRateAnomalyAlarm"]["Properties"]
    band = next(m for m in anomaly["Metrics"] if m["Id"] == anomaly["ThresholdMetricId"])
    assert band["Expression"] == {"Fn::Sub": "ANOMALY_DETECTION_BAND(codes, ${OtpAnomalyBandWidth})"}
    assert anomaly["ComparisonOperator"] == "GreaterThanUpperThreshold"
    (detector,) = monitoring.resources("AWS::CloudWatch::AnomalyDetector").values()
    assert detector["Properties"]["SingleMetricAnomalyDetector"]["MetricName"] == "OtpCodesSent"


def test_silence_is_an_alarm_where_silence_means_the_work_stopped() -> None:
    """The sweeper's heartbeat and the relay's report come every run: no data is the failure itself."""
    props = {name: alarms()[name]["Properties"] for name in ("SweeperSilentAlarm", "UnpublishedEventsAlarm")}
    assert {name: p["TreatMissingData"] for name, p in props.items()} == dict.fromkeys(props, "breaching")
    assert props["SweeperSilentAlarm"]["EvaluationPeriods"] == {"Ref": "SweeperMissedRuns"}
    assert props["SweeperSilentAlarm"]["ComparisonOperator"] == "LessThanThreshold"
    assert alarms()["SmsSpendAlarm"]["Properties"]["TreatMissingData"] == "ignore"  # past 80 % stays so


def test_the_service_metrics_are_the_services_namespace_and_service() -> None:
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    service = [{"Name": "service", "Value": variables["POWERTOOLS_SERVICE_NAME"]}]
    for name, alarm in alarms().items():
        props = alarm["Properties"]
        queries = props.get("Metrics", [])
        metrics = (
            [props] if "MetricName" in props else [q["MetricStat"]["Metric"] for q in queries if "MetricStat" in q]
        )
        for metric in (m for m in metrics if m["Namespace"] == variables["POWERTOOLS_METRICS_NAMESPACE"]):
            assert metric["Dimensions"] == service, name
    for widget in dashboard_body()["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            if row[0] == variables["POWERTOOLS_METRICS_NAMESPACE"]:
                assert row[2:4] == ["service", variables["POWERTOOLS_SERVICE_NAME"]], row


def test_every_function_no_caller_waits_on_is_watched_for_errors_and_throttles() -> None:
    watched: dict[str, set[str]] = {}
    for alarm in alarms().values():
        for query in alarm["Properties"].get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric", {})
            if metric.get("Namespace") == "AWS/Lambda":
                (function,) = refs(metric["Dimensions"])
                watched.setdefault(function, set()).add(metric["MetricName"])
    assert set(watched) >= BACKGROUND
    assert all(metrics == {"Errors", "Throttles"} for metrics in watched.values()), watched
    assert "CreateBookingFunction" in watched  # the service's main job, whose failures the boards' reads would hide


def test_the_dashboard_names_only_metrics_the_code_emits() -> None:
    """Each of the service's metrics on the dashboard or in an alarm is named in the code that emits it; that it is
    emitted, with that name, is what tests/e2e/test_emf_metrics.py sees."""
    sources = "\n".join(p.read_text() for d in ("layers/allocator/opd", "functions") for p in (ROOT / d).rglob("*.py"))
    missing = sorted(name for name in monitoring.service_metrics() if f'"{name}"' not in sources)
    assert missing == []
    graphed = {name for _, name in dashboard_metrics()}
    # What the issue asks the dashboard to show.
    wanted = {"Bookings", "Rejections", "Duration", "Latency", "TooManyRequests", "EventsPending", "SmsSent"}
    wanted |= {"SmsFailed", "CounterTokens", "ScanAndShares", "ColdStart", "Errors"}
    assert wanted <= graphed, wanted - graphed


def test_the_dashboard_names_only_what_the_template_has() -> None:
    (dashboard,) = monitoring.resources("AWS::CloudWatch::Dashboard").values()
    named = refs(dashboard["Properties"]) - {"AWS::Region", "AWS::StackName"}
    assert named <= set(template()["Resources"]), named - set(template()["Resources"])
    shown = next(w for w in dashboard_body()["widgets"] if w["type"] == "alarm")["properties"]["alarms"]
    parts = set().union(*PARTS.values())
    assert sorted(shown) == sorted(f"<{name}.Arn>" for name in alarms() if name not in parts)


def test_the_email_subscription_is_made_only_when_an_address_is_given() -> None:
    (subscription,) = monitoring.resources("AWS::SNS::Subscription").values()
    assert subscription["Condition"] == "AlarmEmailGiven"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert template()["Parameters"]["AlarmEmail"]["Default"] == ""


def test_every_route_is_throttled_and_the_costly_ones_tighter() -> None:
    api = template()["Resources"]["HttpApi"]["Properties"]
    default = api["DefaultRouteSettings"]
    assert default["ThrottlingRateLimit"] > 0 and default["ThrottlingBurstLimit"] >= default["ThrottlingRateLimit"]
    settings = api["RouteSettings"]
    tighter = {"POST /auth/otp", "POST /auth/otp/verify", "POST /bookings"}
    assert tighter <= set(settings)
    for route in tighter:
        assert settings[route]["ThrottlingRateLimit"] < default["ThrottlingRateLimit"], route
    # A key that names no route would throttle nothing, silently.
    known = {f"{r.method} {r.path}" for r in templates.routes(template(), ROOT).routes}
    assert set(settings) <= known, set(settings) - known


def test_the_local_only_endpoints_are_never_in_the_template() -> None:
    assert "/_local" not in (ROOT / "template.yaml").read_text()


def test_every_alarm_links_a_section_of_the_runbook() -> None:
    runbook = (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
    # GitHub's anchor of a heading: lower case, spaces to hyphens, other punctuation dropped.
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in runbook.splitlines()
        if line.startswith("## ")
    }
    for name, alarm in alarms().items():
        linked = re.findall(r"docs/runbook\.md#([a-z0-9-]+)", alarm["Properties"].get("AlarmDescription", ""))
        assert set(linked) <= anchors, f"{name} links {linked}, which docs/runbook.md has no section for"
