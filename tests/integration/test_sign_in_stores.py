"""Sign-in by phone's stores on real servers: the phones' windows, pending sign-ins and tickets in Redis
(`opd.signins`), the phones' accounts in MongoDB (`opd.accounts`), and the register's phone lookup."""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import redis
from pymongo import MongoClient

from opd.accounts import PhoneAccountStore
from opd.domain.otp import CodeTicket, PendingSignIn, phone_key
from opd.domain.patients import register
from opd.mongo import Document
from opd.patients import PatientStore
from opd.signins import RedisSignIns

WINDOW_MS = 900_000
NOW = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


def a_key() -> str:
    return phone_key(f"+9198{secrets.randbelow(10**8):08d}")


def test_the_window_counts_exactly_3_however_many_ask_at_once(redis_client: redis.Redis) -> None:
    signins, key, now_ms = RedisSignIns(redis_client), a_key(), int(time.time() * 1000)
    with ThreadPoolExecutor(16) as crowd:
        answers = list(crowd.map(lambda _: signins.ask(key, now_ms, 3, WINDOW_MS), range(40)))
    assert answers.count(None) == 3
    assert set(answers) == {None, now_ms}  # the others: when the oldest leaves the window
    assert redis_client.zcard(f"otp:asked:{key}") == 3
    assert 0 < redis_client.pttl(f"otp:asked:{key}") <= WINDOW_MS


def test_the_window_slides(redis_client: redis.Redis) -> None:
    signins, key, t0 = RedisSignIns(redis_client), a_key(), int(time.time() * 1000)
    assert [signins.ask(key, t0 + minute * 60_000, 3, WINDOW_MS) for minute in (0, 1, 2)] == [None] * 3
    assert signins.ask(key, t0 + 14 * 60_000, 3, WINDOW_MS) == t0  # refused: counted nothing
    assert signins.ask(key, t0 + WINDOW_MS + 1, 3, WINDOW_MS) is None  # the first left the window
    assert signins.ask(key, t0 + WINDOW_MS + 2, 3, WINDOW_MS) == t0 + 60_000


def test_a_pending_sign_in_keeps_its_life_and_ends(redis_client: redis.Redis) -> None:
    signins, key = RedisSignIns(redis_client), a_key()
    assert signins.pending(key) is None
    signins.carry_on(key, PendingSignIn("pt-1", True, "s-0"))  # nothing to carry on
    assert signins.pending(key) is None
    signins.begin(key, PendingSignIn("pt-1", True, "s-1"), ttl_s=300)
    redis_client.expire(f"otp:pending:{key}", 100)
    signins.carry_on(key, PendingSignIn("pt-1", True, "s-2"))
    assert signins.pending(key) == PendingSignIn("pt-1", True, "s-2")
    assert 90 < redis_client.ttl(f"otp:pending:{key}") <= 100  # the code's life is not extended by a try
    signins.carry_on(key, PendingSignIn("pt-1", True, None))
    assert signins.pending(key) == PendingSignIn("pt-1", True, None)
    signins.end(key)
    assert signins.pending(key) is None


def test_tickets_are_taken_once_each_in_order(redis_client: redis.Redis) -> None:
    signins, user = RedisSignIns(redis_client), f"pt-{secrets.token_hex(8)}"
    assert signins.take(user) is None
    signins.give(user, CodeTicket("+919876500001", "hi"), ttl_s=300)
    signins.give(user, CodeTicket("+919876500001", "en"), ttl_s=300)
    assert 0 < redis_client.ttl(f"otp:ticket:{user}") <= 300
    assert [signins.take(user), signins.take(user), signins.take(user)] == [
        CodeTicket("+919876500001", "hi"),
        CodeTicket("+919876500001", "en"),
        None,
    ]


def test_a_phone_opens_one_account_and_a_patient_has_one(
    mongo_client: MongoClient[Document], database_name: str
) -> None:
    accounts = PhoneAccountStore(mongo_client[database_name]["phone_accounts"])
    accounts.ensure_indexes()
    assert accounts.patient_of("+919876500001") is None and not accounts.has_account("pt-a")
    assert accounts.open("+919876500001", "pt-a", NOW) == "pt-a"
    assert accounts.open("+919876500001", "pt-a", NOW) == "pt-a"  # again: the same account
    assert accounts.open("+919876500001", "pt-b", NOW) == "pt-a"  # the phone's account wins
    assert accounts.open("+919876500002", "pt-a", NOW) is None  # the patient has an account already
    assert accounts.patient_of("+919876500001") == "pt-a" and accounts.has_account("pt-a")
    assert accounts.patient_of("+919876500002") is None and not accounts.has_account("pt-b")


def test_the_register_finds_patients_by_phone(mongo_client: MongoClient[Document], database_name: str) -> None:
    database = mongo_client[database_name]
    patients = PatientStore(database["patients"])
    patients.ensure_indexes()
    for name, phone in (("Asha", "+919876500001"), ("Ravi", "+919876500001"), ("Meena", "+919876500002")):
        patients.insert(register(f"pt-{secrets.token_hex(8)}", {"name": name, "phone": phone}, NOW, 2030))
    assert len(patients.with_phone("+919876500001", 5)) == 2
    assert len(patients.with_phone("+919876500001", 1)) == 1
    assert len(patients.with_phone("+919876500002", 2)) == 1
    assert patients.with_phone("+919876500003", 2) == []
    assert any(index["key"] == {"phone": 1} for index in database["patients"].list_indexes())
