"""The one settings model: defaults, ranges, OPD_AUTH, the *_SECRET indirection, errors naming the variable."""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from opd import settings as settings_module
from opd.settings import ENVIRONMENT_VARIABLES, SecretName, Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]


def test_an_empty_environment_gives_the_documented_defaults() -> None:
    config = Settings.from_env({})
    assert config == Settings()
    assert (
        config.delay_reduction_percent,
        config.lock_ttl_ms,
        config.lock_wait_ms,
        config.no_show_grace_minutes,
        config.clinic_time_zone,
        config.write_attempts,
    ) == (20, 2000, 300, 15, "UTC", 5)
    assert (config.mongodb_database, config.auth, config.idempotency_ttl_seconds) == ("opd", True, 86_400)
    assert (config.service_name, config.metrics_namespace, config.log_level) == ("opd", "OPD", "INFO")
    assert (config.redis_url, config.redis_url_secret, config.mongodb_uri, config.mongodb_uri_secret) == (None,) * 4
    assert config.tracing is False
    assert config.clinic_zone == ZoneInfo("UTC")


def test_variables_are_read_and_typed() -> None:
    config = Settings.from_env(
        {
            "DELAY_REDUCTION_PERCENT": "35",
            "LOCK_TTL_MS": "1500",
            "LOCK_WAIT_MS": "0",
            "NO_SHOW_GRACE_MINUTES": "10",
            "CLINIC_TIME_ZONE": "Asia/Kolkata",
            "MONGODB_DATABASE": "opd-test",
            "IDEMPOTENCY_TTL_SECONDS": "3600",
            "POWERTOOLS_SERVICE_NAME": "opd-dev",
            "POWERTOOLS_METRICS_NAMESPACE": "OPD-dev",
            "POWERTOOLS_LOG_LEVEL": "debug",
            "UNRELATED": "ignored",
        }
    )
    assert (config.delay_reduction_percent, config.lock_ttl_ms, config.lock_wait_ms) == (35, 1500, 0)
    assert (config.no_show_grace_minutes, config.clinic_zone) == (10, ZoneInfo("Asia/Kolkata"))
    assert (config.mongodb_database, config.idempotency_ttl_seconds) == ("opd-test", 3600)
    assert (config.service_name, config.metrics_namespace, config.log_level) == ("opd-dev", "OPD-dev", "DEBUG")


def test_empty_and_blank_values_count_as_unset() -> None:
    assert Settings.from_env({"LOCK_WAIT_MS": "", "MONGODB_DATABASE": "  ", "OPD_AUTH": ""}) == Settings()
    assert Settings.from_env({"LOCK_WAIT_MS": " 250 "}).lock_wait_ms == 250


def test_keyword_overrides_keep_working() -> None:
    config = Settings(lock_ttl_ms=200, lock_wait_ms=3000, clinic_time_zone="Asia/Kolkata", auth=False)
    assert (config.lock_ttl_ms, config.lock_wait_ms, config.auth) == (200, 3000, False)
    assert config.clinic_zone == ZoneInfo("Asia/Kolkata")
    with pytest.raises(ValidationError):
        Settings(lock_wait_ms=-1)
    with pytest.raises(ValidationError):
        Settings(lock_wait_ms=300, no_such_setting=1)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("variable", "value", "rule"),
    [
        ("DELAY_REDUCTION_PERCENT", "-1", "must be ≥ 0"),
        ("DELAY_REDUCTION_PERCENT", "101", "must be ≤ 100"),
        ("DELAY_REDUCTION_PERCENT", "20%", "must be a whole number"),
        ("LOCK_TTL_MS", "0", "must be > 0"),
        ("LOCK_WAIT_MS", "-5", "must be ≥ 0"),
        ("LOCK_WAIT_MS", "0.3s", "must be a whole number"),
        ("NO_SHOW_GRACE_MINUTES", "-15", "must be ≥ 0"),
        ("CLINIC_TIME_ZONE", "India/Delhi", "must be an IANA time zone such as Asia/Kolkata"),
        ("IDEMPOTENCY_TTL_SECONDS", "60", "must be at least 3600, the contract's hour"),
        ("IDEMPOTENCY_TTL_SECONDS", "1h", "must be a whole number"),
        ("OPD_AUTH", "of", 'must be "on" or "off"'),
        ("OPD_AUTH", "false", 'must be "on" or "off"'),
        ("POWERTOOLS_LOG_LEVEL", "LOUD", "must be one of 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"),
        ("POWERTOOLS_TRACE_DISABLED", "maybe", "must be true or false"),
    ],
)
def test_a_bad_value_fails_with_a_message_naming_the_variable(variable: str, value: str, rule: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({variable: value})
    assert str(refused.value) == f'{variable}: {rule} (got "{value}")'


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("REDIS_URL", "http://x", "REDIS_URL: must start with redis://, rediss:// or unix://"),
        ("MONGODB_URI", "postgres://x", "MONGODB_URI: must start with mongodb:// or mongodb+srv://"),
    ],
)
def test_a_bad_connection_string_is_named_but_not_echoed(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({variable: value})
    assert str(refused.value) == message


def test_every_bad_variable_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"LOCK_TTL_MS": "-1", "LOCK_WAIT_MS": "-1", "LOCK_WAIT": "-1"})
    assert str(refused.value) == 'LOCK_TTL_MS: must be > 0 (got "-1"); LOCK_WAIT_MS: must be ≥ 0 (got "-1")'


def test_a_connection_string_is_never_echoed_in_an_error() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"MONGODB_URI": "mongo://admin:hunter2@db.example"})
    assert "hunter2" not in str(refused.value)
    config = Settings.from_env({"REDIS_URL": "rediss://default:hunter2@cache.example:6379"})
    assert "hunter2" not in repr(config)


@pytest.mark.parametrize(
    ("value", "auth"),
    [("on", True), ("off", False), ("OFF", False), (" Off ", False), ("On", True)],
)
def test_opd_auth_is_on_or_off(value: str, auth: bool) -> None:
    assert Settings.from_env({"OPD_AUTH": value}).auth is auth


def test_a_connection_string_or_the_secret_holding_it() -> None:
    plain = Settings.from_env({"REDIS_URL": "redis://127.0.0.1:6379/0", "MONGODB_URI": "mongodb://127.0.0.1:27017"})
    assert plain.redis_connection == "redis://127.0.0.1:6379/0"
    assert plain.mongodb_connection == "mongodb://127.0.0.1:27017"

    secret = Settings.from_env({"REDIS_URL_SECRET": "opd/redis-url", "MONGODB_URI_SECRET": "opd/mongodb-uri"})
    assert secret.redis_connection == SecretName("opd/redis-url")
    assert secret.mongodb_connection == SecretName("opd/mongodb-uri")

    # With both given, the value wins (the local runner sets values; the template, secret names).
    both = Settings.from_env({"REDIS_URL": "redis://127.0.0.1:6379/0", "REDIS_URL_SECRET": "opd/redis-url"})
    assert both.redis_connection == "redis://127.0.0.1:6379/0"


def test_a_missing_connection_string_fails_at_first_use_naming_both_variables() -> None:
    config = Settings.from_env({"REDIS_URL": "redis://127.0.0.1:6379/0"})  # settings without MongoDB are valid
    with pytest.raises(SettingsError, match=re.escape("set MONGODB_URI or MONGODB_URI_SECRET")):
        _ = config.mongodb_connection
    with pytest.raises(SettingsError, match=re.escape("set REDIS_URL or REDIS_URL_SECRET")):
        _ = Settings().redis_connection


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "1"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
        ({"POWERTOOLS_TRACE_DISABLED": "false"}, False),
    ],
)
def test_tracing_inputs(env: dict[str, str], on: bool) -> None:
    assert Settings.from_env(env).tracing is on


def test_current_reads_the_process_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    settings_module.current.cache_clear()
    try:
        monkeypatch.setenv("LOCK_WAIT_MS", "123")
        first = settings_module.current()
        monkeypatch.setenv("LOCK_WAIT_MS", "456")
        assert settings_module.current() is first
        assert first.lock_wait_ms == 123
        settings_module.current.cache_clear()
        monkeypatch.setenv("LOCK_WAIT_MS", "-5")
        with pytest.raises(SettingsError, match="LOCK_WAIT_MS"):
            settings_module.current()
    finally:
        settings_module.current.cache_clear()


def test_no_other_module_reads_the_environment() -> None:
    """opd/settings.py is the one place: the layer and the functions read no variable themselves."""
    readers = [
        path.relative_to(ROOT).as_posix()
        for folder in (ROOT / "layers" / "allocator" / "opd", ROOT / "functions")
        for path in folder.rglob("*.py")
        if re.search(r"os\.environ|os\.getenv|getenv\(", path.read_text())
    ]
    assert readers == ["layers/allocator/opd/settings.py"]


def test_every_declared_variable_is_upper_case_and_unique() -> None:
    assert len(set(ENVIRONMENT_VARIABLES)) == len(ENVIRONMENT_VARIABLES)
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", name) for name in ENVIRONMENT_VARIABLES)
    assert "CORS_ALLOW_ORIGIN" not in ENVIRONMENT_VARIABLES  # CORS lives in the template's HttpApi only


def test_every_variable_the_template_sets_is_declared() -> None:
    from devserver.template import load_template

    template = load_template(ROOT / "template.yaml")
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert set(variables) <= set(ENVIRONMENT_VARIABLES)
