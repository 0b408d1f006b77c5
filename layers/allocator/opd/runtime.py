"""What a Lambda execution environment builds once and reuses across invocations.

Connection strings come from the environment (local runner, tests) or, in AWS, from Secrets
Manager through Powertools parameters, cached for the life of the environment. Nothing connects
at import time, so a cold start pays only for the imports.
"""

from __future__ import annotations

import sys
import threading
from functools import cache
from typing import TYPE_CHECKING, Any

import redis
from pymongo import MongoClient

from opd import redisconn, store
from opd.backlog import EventBacklogStore
from opd.doctors import DoctorStore
from opd.handoff import HandOffQueue
from opd.lock import SlotLock
from opd.mongo import Document
from opd.patients import SEARCH_KEYS, PatientStore
from opd.ports import EventPublisher
from opd.service import Allocator, PatientRegister
from opd.settings import SecretName, Settings
from opd.settings import current as current_settings
from opd.store import SlotStore

if TYPE_CHECKING:
    from opd.abdm.gatewaykeys import GatewayKeys
    from opd.abdm.onshare import OnShareSender
    from opd.abdm.queue import OnShareQueue
    from opd.abdm.share import ScanAndShare
    from opd.dayreports import DayReportStore
    from opd.service.counters import CounterDesk
    from opd.service.daily import DayReporter
    from opd.service.signin import CodeChecker, CodeSender, PhoneSignIn

# Clients are built once per environment, so a secret is read at its first use; after a rotation,
# new environments get the new value and old ones keep theirs until Lambda retires them.
SECRET_MAX_AGE_S = 3600


def _connection_string(given: str | SecretName) -> str:
    """The connection string itself, or the value of the Secrets Manager secret that holds it."""
    if isinstance(given, str):
        return given
    from aws_lambda_powertools.utilities import parameters  # boto3 only where secrets are used

    value = parameters.get_secret(given.name, max_age=SECRET_MAX_AGE_S)
    return value if isinstance(value, str) else value.decode()


def settings() -> Settings:
    """This environment's settings (read once, see opd.settings.current)."""
    return current_settings()


@cache
def redis_client() -> redis.Redis:
    return redisconn.connect(_connection_string(settings().redis_connection))


@cache
def mongo_client() -> MongoClient[Document]:
    return store.connect(_connection_string(settings().mongodb_connection))


@cache
def slot_store() -> SlotStore:
    slots = SlotStore(mongo_client()[settings().mongodb_database]["slots"])
    slots.ensure_indexes()
    return slots


@cache
def doctor_store() -> DoctorStore:
    """The doctor directory (`opd.doctors`); its index is made at first use."""
    doctors = DoctorStore(mongo_client()[settings().mongodb_database]["doctors"])
    doctors.ensure_indexes()
    return doctors


@cache
def patient_store() -> PatientStore:
    """The patient register (`opd.patients`) and its search's keys; their indexes are made at first use."""
    database = mongo_client()[settings().mongodb_database]
    patients = PatientStore(database["patients"], database[SEARCH_KEYS])
    patients.ensure_indexes()
    return patients


@cache
def patient_register() -> PatientRegister:
    return PatientRegister(patient_store(), settings())


@cache
def counter_desk() -> CounterDesk:
    """The registration counters (`opd.counters`, `opd.service.counters`); their indexes are made at first use.
    Tokens' names are read from the register by id alone, which needs none of its indexes."""
    from opd.counters import CounterStore
    from opd.service.counters import CounterDesk

    database = mongo_client()[settings().mongodb_database]
    counters = CounterStore(database["counters"])
    counters.ensure_indexes()
    return CounterDesk(counters, PatientStore(database["patients"], database[SEARCH_KEYS]), settings())


@cache
def day_reports() -> DayReportStore:
    """The daily reports (`opd.dayreports`): their rows, and the reads that make them; indexes made at first use."""
    from opd.dayreports import DayReportStore

    reports = DayReportStore(mongo_client()[settings().mongodb_database])
    reports.ensure_indexes()
    return reports


@cache
def day_reporter() -> DayReporter:
    """The sweeper's side of the daily reports (`opd.service.daily`): days over made into rows, and the backfill."""
    from opd.service.daily import DayReporter

    return DayReporter(day_reports(), doctor_store(), settings())


@cache
def event_backlog() -> EventBacklogStore:
    """Where events wait while the bus is away (`opd.backlog`); its index is made at first use."""
    backlog = EventBacklogStore(mongo_client()[settings().mongodb_database]["event_backlog"])
    backlog.ensure_indexes()
    return backlog


def record_lock_wait(waited_ms: float) -> None:
    """EMF metric LockWaitMs, flushed with the rest of the invocation's metrics."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    # Powertools' Metrics instances share one metric set per process, so this joins the handler's.
    Metrics().add_metric(name="LockWaitMs", unit=MetricUnit.Milliseconds, value=round(waited_ms, 1))


_published_lock = threading.Lock()


def record_published(events: int) -> None:
    """EMF metric EventsPublished (by a request, the sweeper or the relay), flushed with the invocation's metrics.
    A leave publishes from several threads at once: Powertools' metric set is a plain dict."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    with _published_lock:
        Metrics().add_metric(name="EventsPublished", unit=MetricUnit.Count, value=events)


@cache
def event_publisher() -> EventPublisher | None:
    """EventBridge, on the stack's bus (EVENT_BUS_NAME); boto3 loads with the first publication."""
    bus = settings().event_bus_name
    if bus is None:
        return None
    from opd.publisher import EventBridgePublisher

    return EventBridgePublisher(bus, observe=record_published)


# The publisher's longest wait for the next handed-off change: one BLPOP, on a socket that waits longer.
HAND_OFF_WAIT_S = 20.0


@cache
def hand_off_queue() -> HandOffQueue:
    """The publisher's end of the hand-off list (`opd.handoff`), on a Redis client of its own whose socket
    outwaits its BLPOP (the requests' client gives up after half a second)."""
    url = _connection_string(settings().redis_connection)
    return HandOffQueue(redisconn.connect(url, timeout_s=HAND_OFF_WAIT_S + 5))


@cache
def allocator() -> Allocator:
    config = settings()
    slot_lock = SlotLock(
        redis_client(), ttl_ms=config.lock_ttl_ms, wait_ms=config.lock_wait_ms, observe_wait=record_lock_wait
    )
    return Allocator(slot_store(), slot_lock, config, publisher=event_publisher(), backlog=event_backlog())


# -- sign-in by phone (opd.service.signin): its modules load with the first request that signs in ----------


def aws_client(service: str, attempts: int = 2) -> Any:
    """A boto3 client with short timeouts (Cognito's triggers take up to 5 s each), and botocore kept from logging
    any request's parameters (`opd.cognito.quiet_clients`)."""
    import boto3  # type: ignore[import-untyped]
    from botocore.config import Config  # type: ignore[import-untyped]

    from opd.cognito import quiet_clients

    quiet_clients()
    timeouts = Config(connect_timeout=2, read_timeout=9, retries={"max_attempts": attempts, "mode": "standard"})
    return boto3.client(service, config=timeouts)


@cache
def sign_in_code_key() -> bytes:
    """The codes' HMAC key (SIGN_IN_CODE_KEY, or the stack's generated secret), read at its first use."""
    return _connection_string(settings().sign_in_code_key_source).encode()


@cache
def phone_sign_in() -> PhoneSignIn:
    """The routes' side of sign-in by phone: Redis, the phones' accounts, the register and Cognito."""
    from opd.accounts import PhoneAccountStore
    from opd.cognito import CognitoPatients
    from opd.service.signin import PhoneSignIn
    from opd.signins import RedisSignIns

    config = settings()
    pool_id, client_id = config.patient_pool
    accounts = PhoneAccountStore(mongo_client()[config.mongodb_database]["phone_accounts"])
    accounts.ensure_indexes()
    signins = RedisSignIns(redis_client())
    # One attempt: a repeated AdminInitiateAuth would start a second sign-in, a repeated answer use a session twice.
    cognito = CognitoPatients(aws_client("cognito-idp", attempts=1), pool_id, client_id)
    return PhoneSignIn(signins, signins, accounts, patient_store(), cognito, config)


@cache
def code_sender() -> CodeSender:
    """The Create auth challenge trigger's side: the tickets and the SMS budget in Redis, SNS, the key."""
    from opd.service.signin import CodeSender
    from opd.signins import RedisSignIns
    from opd.sms import RedisSmsLedger, sns_sender

    client = redis_client()
    sns = sns_sender(aws_client("sns"))
    return CodeSender(RedisSignIns(client), RedisSmsLedger(client), sns, sign_in_code_key, settings())


@cache
def code_checker() -> CodeChecker:
    """The Verify auth challenge response trigger's side: the key only."""
    from opd.service.signin import CodeChecker

    return CodeChecker(sign_in_code_key)


# -- ABDM Scan & Share (opd.abdm): PyJWT, urllib and boto3 load with the first share or callback ---------------


@cache
def abdm_gateway_keys() -> GatewayKeys:
    """The ABDM gateway's published keys, fetched at the first share and kept (`opd.abdm.gatewaykeys`)."""
    from opd.abdm.gatewaykeys import GatewayKeys

    return GatewayKeys(settings().abdm_gateway_url)


@cache
def abdm_on_share_queue() -> OnShareQueue | None:
    """The queue of the on-share callbacks owed (ABDM_ON_SHARE_QUEUE_URL); None where it is not set."""
    from opd.abdm.queue import OnShareQueue

    url = settings().abdm_on_share_queue_url
    return None if url is None else OnShareQueue(aws_client("sqs"), url)


@cache
def scan_and_share() -> ScanAndShare:
    """The share route's work; SettingsError where Scan & Share is not set up (ABDM_HIP_ID, the queue)."""
    from opd.abdm.share import ScanAndShare

    settings().abdm_share  # noqa: B018 (raises SettingsError where it is not set up)
    queue = abdm_on_share_queue()
    assert queue is not None  # abdm_share checked the queue's URL
    return ScanAndShare(patient_store(), counter_desk(), queue, settings())


@cache
def abdm_client_secret() -> str:
    """The gateway's client secret (ABDM_CLIENT_SECRET, or the stack's secret), read at the first session asked for."""
    return _connection_string(settings().abdm_client[1])


@cache
def on_share_sender() -> OnShareSender:
    """The on-share consumer's side: the counters and the gateway; SettingsError without ABDM_CLIENT_ID."""
    from opd.abdm.gateway import AbdmGateway
    from opd.abdm.onshare import OnShareSender

    config = settings()
    client_id, _ = config.abdm_client
    gateway = AbdmGateway(config.abdm_gateway_url, config.abdm_cm_id, client_id, abdm_client_secret)
    return OnShareSender(counter_desk(), gateway)


def reset() -> None:
    """Forget the settings and every cached client and secret, as a new execution environment would."""
    for cached in (
        current_settings,
        redis_client,
        mongo_client,
        slot_store,
        doctor_store,
        patient_store,
        patient_register,
        day_reports,
        day_reporter,
        counter_desk,
        event_backlog,
        event_publisher,
        hand_off_queue,
        allocator,
        sign_in_code_key,
        phone_sign_in,
        code_sender,
        code_checker,
        abdm_gateway_keys,
        abdm_on_share_queue,
        scan_and_share,
        abdm_client_secret,
        on_share_sender,
    ):
        cached.cache_clear()
    if parameters := sys.modules.get("aws_lambda_powertools.utilities.parameters"):  # loaded only if secrets were read
        parameters.clear_caches()
