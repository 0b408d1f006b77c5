"""Every environment variable the layer and the functions read, declared once and checked at cold start.

`current()` reads `os.environ` once per execution environment: the first import of a handler does it,
so a bad value fails the cold start with a message naming the variable, e.g.
`LOCK_WAIT_MS: must be ≥ 0 (got "-5")`. `Settings(...)` with keyword overrides and
`Settings.from_env(mapping)` build settings without touching the process environment.

An empty variable counts as unset, and values lose surrounding white space. The connection strings
may be given themselves (`REDIS_URL`, `MONGODB_URI`) or as the Secrets Manager secret holding them
(`REDIS_URL_SECRET`, `MONGODB_URI_SECRET`, as the template does); the value wins if both are set.
The settings only say which was given: `opd.runtime` reads a secret at the client's first use.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from opd.domain.languages import Language

MIN_IDEMPOTENCY_TTL_SECONDS = 3_600  # the contract: keys are remembered for at least an hour

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class SettingsError(RuntimeError):
    """The environment is wrong: the message names each bad variable and what it holds."""


@dataclass(frozen=True)
class SecretName:
    """A connection string kept in Secrets Manager under this name (or ARN)."""

    name: str


def _time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone such as Asia/Kolkata") from None
    return name


def _on_off(value: Any) -> Any:
    """OPD_AUTH: exactly "on" or "off", so a typo never turns authentication off."""
    if isinstance(value, str):
        switch = value.strip().lower()
        if switch not in {"on", "off"}:
            raise ValueError('must be "on" or "off"')
        return switch == "on"
    return value


def _idempotency_ttl(seconds: int) -> int:
    if seconds < MIN_IDEMPOTENCY_TTL_SECONDS:
        raise ValueError(f"must be at least {MIN_IDEMPOTENCY_TTL_SECONDS}, the contract's hour")
    return seconds


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _public_url(url: str) -> str:
    """PUBLIC_URL: an http(s) URL of the pages' origin (and path), to which `/status.html#<code>` is appended."""
    if not url.startswith(("https://", "http://")) or any(c.isspace() or c in "?#" for c in url):
        raise ValueError("must be an http(s):// URL without a query or fragment, e.g. https://opd.example.org")
    return url.rstrip("/")


def _gateway_url(url: str) -> str:
    """ABDM_GATEWAY_URL: the gateway's origin, e.g. https://dev.abdm.gov.in; its paths are appended (`opd.abdm`)."""
    if not url.startswith(("https://", "http://")) or any(c.isspace() or c in "?#" for c in url):
        raise ValueError("must be an http(s):// URL without a query or fragment, e.g. https://dev.abdm.gov.in")
    return url.rstrip("/")


def _url(*schemes: str) -> AfterValidator:
    def check(url: str) -> str:
        if not url.startswith(schemes):
            raise ValueError(f"must start with {', '.join(schemes[:-1])} or {schemes[-1]}")
        return url

    return AfterValidator(check)


class Settings(BaseModel):
    """The deployment's settings; each field's `validation_alias` is the environment variable it comes from."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True)

    # -- the allocator ---------------------------------------------------------------------------
    # A doctor delay cuts the base capacity by this share.
    delay_reduction_percent: int = Field(default=20, ge=0, le=100, validation_alias="DELAY_REDUCTION_PERCENT")
    # The slot mutex expires by itself if its holder dies.
    lock_ttl_ms: int = Field(default=2000, gt=0, validation_alias="LOCK_TTL_MS")
    # How long a request waits for a busy slot before answering 429.
    lock_wait_ms: int = Field(default=300, ge=0, validation_alias="LOCK_WAIT_MS")
    # A BOOKED patient becomes a no-show this long after the slot's start.
    no_show_grace_minutes: int = Field(default=15, ge=0, validation_alias="NO_SHOW_GRACE_MINUTES")
    # Waitlisted bookings a slot takes when its tier is full; then WAITLIST_FULL.
    waitlist_limit: int = Field(default=10, ge=0, le=100, validation_alias="WAITLIST_LIMIT")
    # The zone in which a doctor's "date" is read.
    clinic_time_zone: Annotated[str, AfterValidator(_time_zone)] = Field(
        default="UTC", validation_alias="CLINIC_TIME_ZONE"
    )
    # Re-reads after a lost conditional write before giving up (not an environment variable).
    write_attempts: int = Field(default=5, ge=1)

    # -- events and SMS ----------------------------------------------------------------------------
    # The EventBridge bus every change's events go to; unset: they wait in the slots' outboxes.
    event_bus_name: str | None = Field(default=None, min_length=1, validation_alias="EVENT_BUS_NAME")
    # What SMS may cost in a calendar month (UTC), in US dollars; the notifier stops sending beyond it.
    sms_monthly_spend_limit_usd: float = Field(default=10.0, ge=0, validation_alias="SMS_MONTHLY_SPEND_LIMIT_USD")
    # What Amazon SNS charges per SMS part to the clinic's country (see its SMS pricing page).
    sms_price_usd: float = Field(default=0.01, gt=0, validation_alias="SMS_PRICE_USD")
    # Where patients' phones reach the pages (the template: the stack's CloudFront URL unless PublicUrl is given;
    # locally the runner's own): every SMS about a booking ends with <PUBLIC_URL>/status.html#<its status code>.
    # Unset: SMS go without the link.
    public_url: Annotated[str, AfterValidator(_public_url)] | None = Field(default=None, validation_alias="PUBLIC_URL")

    # -- connections -------------------------------------------------------------------------------
    redis_url: Annotated[str, _url("redis://", "rediss://", "unix://")] | None = Field(
        default=None, validation_alias="REDIS_URL", repr=False
    )
    redis_url_secret: str | None = Field(default=None, validation_alias="REDIS_URL_SECRET")
    mongodb_uri: Annotated[str, _url("mongodb://", "mongodb+srv://")] | None = Field(
        default=None, validation_alias="MONGODB_URI", repr=False
    )
    mongodb_uri_secret: str | None = Field(default=None, validation_alias="MONGODB_URI_SECRET")
    mongodb_database: str = Field(default="opd", min_length=1, validation_alias="MONGODB_DATABASE")

    # -- the HTTP API ------------------------------------------------------------------------------
    # OPD_AUTH=off (local experiments only) makes every caller admin.
    auth: Annotated[bool, BeforeValidator(_on_off)] = Field(default=True, validation_alias="OPD_AUTH")
    idempotency_ttl_seconds: Annotated[int, AfterValidator(_idempotency_ttl)] = Field(
        default=86_400, validation_alias="IDEMPOTENCY_TTL_SECONDS"
    )

    # -- sign-in by phone (contract v3, "Sign-in by phone"; README, "Sign-in by phone") -------------
    # The language of an SMS nothing else chooses one for: a booking's made without one for a patient the register
    # has none for, a booking's made before languages, a sign-in code's without an Accept-Language of ours.
    default_language: Language = Field(default=Language.EN, validation_alias="DEFAULT_LANGUAGE")
    # The user pool, and its app client that patients' tokens are issued to (the template gives both).
    cognito_user_pool_id: str | None = Field(default=None, min_length=1, validation_alias="COGNITO_USER_POOL_ID")
    cognito_patient_client_id: str | None = Field(
        default=None, min_length=1, validation_alias="COGNITO_PATIENT_CLIENT_ID"
    )
    # The HMAC key of the codes' hashes, or the Secrets Manager secret holding it (the template's, generated).
    sign_in_code_key: str | None = Field(default=None, min_length=16, validation_alias="SIGN_IN_CODE_KEY", repr=False)
    sign_in_code_key_secret: str | None = Field(default=None, validation_alias="SIGN_IN_CODE_KEY_SECRET")
    # A code's life: the contract's 5 minutes, or less (tests).
    sign_in_code_ttl_seconds: int = Field(default=300, ge=1, le=300, validation_alias="SIGN_IN_CODE_TTL_SECONDS")
    # Codes are sent only while the month's SMS stay within this share of the spend limit: however many codes
    # are asked for, the rest is left for the bookings' SMS.
    sign_in_sms_share_percent: int = Field(default=50, ge=0, le=100, validation_alias="SIGN_IN_SMS_SHARE_PERCENT")

    # -- ABDM Scan & Share (contract v3, "Registration counters and ABDM Scan & Share"; README, "ABDM Scan & Share") --
    # Every one may be unset: only the two ABDM functions (and the sweeper's re-send) read them, when they need them.
    # The gateway: its published keys check the shares it posts; its sessions and on-share take our callbacks.
    abdm_gateway_url: Annotated[str, AfterValidator(_gateway_url)] = Field(
        default="https://dev.abdm.gov.in", validation_alias="ABDM_GATEWAY_URL"
    )
    # This hospital's HIP id (its facility's id in ABDM): a share addressed to another HIP is refused. Unset: the share
    # route answers 404, Scan & Share is not set up.
    abdm_hip_id: str | None = Field(default=None, min_length=1, max_length=100, validation_alias="ABDM_HIP_ID")
    # The consent manager the callbacks name (X-CM-ID): "sbx" in ABDM's sandbox, "abdm" in production.
    abdm_cm_id: str = Field(default="sbx", min_length=1, max_length=100, validation_alias="ABDM_CM_ID")
    # The gateway's client credentials (the sessions endpoint); the secret itself, or the Secrets Manager secret.
    abdm_client_id: str | None = Field(default=None, min_length=1, validation_alias="ABDM_CLIENT_ID")
    abdm_client_secret: str | None = Field(
        default=None, min_length=1, validation_alias="ABDM_CLIENT_SECRET", repr=False
    )
    abdm_client_secret_secret: str | None = Field(default=None, validation_alias="ABDM_CLIENT_SECRET_SECRET")
    # The SQS queue of the on-share callbacks owed to the gateway (the template's AbdmOnShareQueue).
    abdm_on_share_queue_url: Annotated[str, _url("https://", "http://")] | None = Field(
        default=None, validation_alias="ABDM_ON_SHARE_QUEUE_URL"
    )

    # -- observability (Powertools reads some of these too; the handlers pass ours explicitly) -----
    service_name: str = Field(default="opd", min_length=1, validation_alias="POWERTOOLS_SERVICE_NAME")
    metrics_namespace: str = Field(default="OPD", min_length=1, validation_alias="POWERTOOLS_METRICS_NAMESPACE")
    log_level: Annotated[LogLevel, BeforeValidator(_upper)] = Field(
        default="INFO", validation_alias="POWERTOOLS_LOG_LEVEL"
    )
    # Where X-Ray can trace: inside a Lambda (its task root is set), not under `sam local`, not disabled.
    lambda_task_root: str | None = Field(default=None, validation_alias="LAMBDA_TASK_ROOT")
    sam_local: str | None = Field(default=None, validation_alias="AWS_SAM_LOCAL")
    trace_disabled: bool = Field(default=False, validation_alias="POWERTOOLS_TRACE_DISABLED")
    # Read by pydantic itself: "__all__" (the template's) skips its scan of every package's entry points
    # for plugins at the first model built, a few ms of a cold start; declared here so it is a known name.
    pydantic_disable_plugins: str | None = Field(default=None, validation_alias="PYDANTIC_DISABLE_PLUGINS")

    @property
    def clinic_zone(self) -> ZoneInfo:
        return ZoneInfo(self.clinic_time_zone)

    @property
    def tracing(self) -> bool:
        """X-Ray traces only inside a Lambda (not `sam local`) unless POWERTOOLS_TRACE_DISABLED says no,
        as Powertools' Tracer decides."""
        return bool(self.lambda_task_root) and not self.sam_local and not self.trace_disabled

    @property
    def redis_connection(self) -> str | SecretName:
        """The Redis URL itself, or the secret holding it."""
        return _given("REDIS_URL", self.redis_url, self.redis_url_secret)

    @property
    def mongodb_connection(self) -> str | SecretName:
        """The MongoDB connection string itself, or the secret holding it."""
        return _given("MONGODB_URI", self.mongodb_uri, self.mongodb_uri_secret)

    @property
    def sign_in_code_key_source(self) -> str | SecretName:
        """The codes' HMAC key itself, or the secret holding it."""
        return _given("SIGN_IN_CODE_KEY", self.sign_in_code_key, self.sign_in_code_key_secret)

    @property
    def patient_pool(self) -> tuple[str, str]:
        """The user pool's id and the patients' app client id: sign-in by phone needs both."""
        if not self.cognito_user_pool_id or not self.cognito_patient_client_id:
            raise SettingsError("set COGNITO_USER_POOL_ID and COGNITO_PATIENT_CLIENT_ID")
        return self.cognito_user_pool_id, self.cognito_patient_client_id

    @property
    def abdm_share(self) -> tuple[str, str]:
        """This HIP's id and the on-share queue: the share route needs both (unset: Scan & Share is not set up)."""
        if not self.abdm_hip_id or not self.abdm_on_share_queue_url:
            raise SettingsError("set ABDM_HIP_ID and ABDM_ON_SHARE_QUEUE_URL")
        return self.abdm_hip_id, self.abdm_on_share_queue_url

    @property
    def abdm_client(self) -> tuple[str, str | SecretName]:
        """The gateway's client id, and its secret itself or the secret holding it: the on-share callbacks need both."""
        if not self.abdm_client_id:
            raise SettingsError("set ABDM_CLIENT_ID")
        return self.abdm_client_id, _given(
            "ABDM_CLIENT_SECRET", self.abdm_client_secret, self.abdm_client_secret_secret
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings `env` (default: the process environment) gives; SettingsError names what is wrong."""
        env = os.environ if env is None else env
        given = {name: value for name in ENVIRONMENT_VARIABLES if (value := env.get(name, "").strip())}
        try:
            return cls.model_validate(given)
        except ValidationError as invalid:
            raise SettingsError("; ".join(_problem(error, given) for error in invalid.errors())) from None


def _given(variable: str, value: str | None, secret: str | None) -> str | SecretName:
    if value:
        return value
    if secret:
        return SecretName(secret)
    raise SettingsError(f"set {variable} or {variable}_SECRET")


ENVIRONMENT_VARIABLES: tuple[str, ...] = tuple(
    field.validation_alias for field in Settings.model_fields.values() if isinstance(field.validation_alias, str)
)
# Never echoed in an error: they may carry a password.
_CONFIDENTIAL = frozenset({"REDIS_URL", "MONGODB_URI", "SIGN_IN_CODE_KEY", "ABDM_CLIENT_SECRET"})


# How a pydantic error type reads for a person, from its context (`ctx`).
_RULES: dict[str, Callable[[dict[str, Any]], str]] = {
    "greater_than_equal": lambda ctx: f"must be ≥ {ctx['ge']}",
    "greater_than": lambda ctx: f"must be > {ctx['gt']}",
    "less_than_equal": lambda ctx: f"must be ≤ {ctx['le']}",
    "float_parsing": lambda _: "must be a number",
    "float_type": lambda _: "must be a number",
    "int_parsing": lambda _: "must be a whole number",
    "int_from_float": lambda _: "must be a whole number",
    "int_type": lambda _: "must be a whole number",
    "bool_parsing": lambda _: "must be true or false",
    "bool_type": lambda _: "must be true or false",
    "string_too_short": lambda ctx: (
        "must not be empty" if ctx.get("min_length", 1) <= 1 else f"must be at least {ctx['min_length']} characters"
    ),
    "literal_error": lambda ctx: f"must be one of {ctx['expected']}",
    "enum": lambda ctx: f"must be one of {ctx['expected']}",
    "value_error": lambda ctx: str(ctx["error"]),
}


def _problem(error: ErrorDetails, given: Mapping[str, str]) -> str:
    """One pydantic error as `NAME: what it must be (got "value")`."""
    name = str(error["loc"][0]) if error["loc"] else "settings"
    says = _RULES.get(error["type"])
    rule = says(error.get("ctx", {})) if says is not None else str(error["msg"])
    if name in _CONFIDENTIAL or name not in given:
        return f"{name}: {rule}"
    return f'{name}: {rule} (got "{given[name]}")'


@cache
def current() -> Settings:
    """This execution environment's settings, read from the process environment at first use."""
    return Settings.from_env()
