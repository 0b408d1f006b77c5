"""Sign-in by phone, pure: the code's hash and life, the three triggers' decisions (`domain.otp`), the language of
the SMS, and the service (`opd.service.signin`) over in-memory ports. The same flow on real servers and moto:
tests/handlers/test_sign_in_routes.py and tests/e2e/test_sign_in.py."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opd import catalogs
from opd.catalogs import preferred
from opd.domain import Language, otp
from opd.domain.languages import ranges
from opd.domain.otp import CodeChallenge, CodeTicket, PendingSignIn
from opd.domain.patients import NameAndLanguage, Patient
from opd.errors import DependencyUnavailable, InvalidCode, TooManyCodes
from opd.messages import SIGN_IN_CODE, parts, sign_in_text
from opd.ports import Tokens
from opd.service.signin import CodeChecker, CodeNotSent, CodeSender, PhoneSignIn, draw_code
from opd.settings import Settings, SettingsError

KEY = b"unit-test-key-0123456789"
USER = "pt-00000000000000aa"
NOW = 1_900_000_000.0
PHONE = "+919876500001"


def challenge(code: str = "123456", now: float = NOW, ttl_s: int = 300, user: str = USER) -> CodeChallenge:
    return CodeChallenge.of(KEY, "0" * 32, user, code, now, ttl_s)


def tried(*results: bool, sent: CodeChallenge | None = None) -> list[dict[str, Any]]:
    metadata = (sent or challenge()).metadata()
    return [{"challengeName": "CUSTOM_CHALLENGE", "challengeResult": r, "challengeMetadata": metadata} for r in results]


# -- the code and what is kept of it -------------------------------------------------------------------------


def test_a_code_is_6_digits_drawn_anew_each_time() -> None:
    drawn = {draw_code() for _ in range(200)}
    assert all(otp.is_code(code) for code in drawn)
    assert len(drawn) > 190  # a million possible codes: 200 draws repeat one rarely


def test_the_hash_depends_on_the_key_the_salt_the_user_and_the_code() -> None:
    base = otp.code_hash(KEY, "0" * 32, USER, "123456")
    assert len(base) == 64 and "123456" not in base
    assert otp.code_hash(KEY, "0" * 32, USER, "123456") == base
    assert base != otp.code_hash(b"another-key-0123456789", "0" * 32, USER, "123456")
    assert base != otp.code_hash(KEY, "1" * 32, USER, "123456")
    assert base != otp.code_hash(KEY, "0" * 32, "pt-someone-else", "123456")
    assert base != otp.code_hash(KEY, "0" * 32, USER, "123457")


def test_a_challenge_carries_its_hash_and_life_never_its_code() -> None:
    sent = challenge("987654")
    assert "987654" not in sent.metadata() and "987654" not in str(sent.private())
    assert CodeChallenge.from_metadata(sent.metadata()) == sent
    assert CodeChallenge.from_private(sent.private()) == sent
    assert sent.expires_at == NOW + 300
    for garbage in (None, 5, "", "CODE:x:y:1", sent.metadata() + "0" * 13, {"metadata": "no"}):
        assert CodeChallenge.from_metadata(garbage) is None
    assert CodeChallenge.from_private({"metadata": "no"}) is None and CodeChallenge.from_private("x") is None


# -- Define ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "decision"),
    [
        ({"session": []}, otp.ASK),
        ({"session": [], "userNotFound": True}, otp.FAIL),
        ({"session": tried(False)}, otp.ASK),
        ({"session": tried(False, False, False, False)}, otp.ASK),
        ({"session": tried(False, False, False, False, False)}, otp.FAIL),  # the 5th wrong answer
        ({"session": tried(False, True)}, otp.TOKENS),
        ({"session": tried(True)}, otp.TOKENS),
        ({"session": [{"challengeName": "SRP_A", "challengeResult": True}]}, otp.FAIL),
        ({"session": [{"challengeName": "CUSTOM_CHALLENGE", "challengeResult": False}]}, otp.FAIL),  # not ours
        ({"session": tried(False, sent=challenge(now=NOW - 301))}, otp.FAIL),  # its life is over
    ],
)
def test_define(request_: dict[str, Any], decision: dict[str, Any]) -> None:
    assert otp.define(request_, now=NOW) == decision


# -- Create ---------------------------------------------------------------------------------------------------


def test_create_asks_the_same_code_again_after_a_wrong_answer() -> None:
    sent = challenge()
    assert otp.code_of_session({"session": []}) is None
    assert otp.code_of_session({"session": tried(False, sent=sent)}) == sent
    response = otp.create(sent)
    assert response["privateChallengeParameters"] == sent.private()
    assert response["challengeMetadata"] == sent.metadata()
    assert set(response["publicChallengeParameters"]) == {"delivery", "codeLength"}
    with pytest.raises(ValueError, match="no sign-in code"):
        otp.code_of_session({"session": [{"challengeName": "CUSTOM_CHALLENGE", "challengeMetadata": "x"}]})


# -- Verify ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "now", "user", "right"),
    [
        ("123456", NOW, USER, True),
        ("123456", NOW + 299, USER, True),
        ("123456", NOW + 300, USER, False),  # its life is over
        ("123457", NOW, USER, False),
        ("123456", NOW, "pt-someone-else", False),  # another user's code
        ("12345", NOW, USER, False),
        (" 123456", NOW, USER, False),
        (123456, NOW, USER, False),
        (None, NOW, USER, False),
    ],
)
def test_verify(answer: object, now: float, user: str, right: bool) -> None:
    request = {"privateChallengeParameters": challenge().private(), "challengeAnswer": answer}
    assert otp.verify(request, KEY, user, now) is right


def test_verify_refuses_a_challenge_it_cannot_read_and_another_key() -> None:
    assert otp.verify({"privateChallengeParameters": {}, "challengeAnswer": "123456"}, KEY, USER, NOW) is False
    request = {"privateChallengeParameters": challenge().private(), "challengeAnswer": "123456"}
    assert otp.verify(request, b"another-key-0123456789", USER, NOW) is False


# -- the window, the phone's key, the language -----------------------------------------------------------------


def test_retry_after_is_until_the_oldest_code_leaves_the_window() -> None:
    assert otp.retry_after(NOW - 100, NOW) == 800
    assert otp.retry_after(NOW - 899.5, NOW) == 1
    assert otp.retry_after(NOW - 2000, NOW) == 1


def test_a_phone_key_names_no_digit_of_the_phone() -> None:
    key = otp.phone_key(PHONE)
    assert key == otp.phone_key(PHONE) != otp.phone_key("+919876500002")
    assert PHONE.removeprefix("+")[-6:] not in key


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("hi-IN,hi;q=0.9,en;q=0.8", Language.HI),
        ("en-GB,ta;q=0.5", Language.EN),
        ("fr-FR,ta;q=0.4,hi;q=0.3", Language.TA),
        ("ta;q=0.2, hi;q=0.8", Language.HI),
        ("TA", Language.TA),
        ("hi;q=0, en;q=0.1", Language.EN),  # q=0: not wanted
        ("hi;q=x", None),
        ("fr, de", None),
        ("*", None),
        ("", None),
        (None, None),
        ("hi-IN", Language.HI),
        ("ta", Language.TA),
        ("en-GB,hi;q=0.8", Language.EN),
        ("fr-CA, fr;q=0.9, hi-IN;q=0.7, en;q=0.6", Language.HI),
        ("hi;q=0.8, ta;q=0.8", Language.HI),  # equal weights: as listed
        ("ta; q=0.5, en ;Q=0.9", Language.EN),  # spaces, and Q in capitals
        ("hi;q=1.5, ta;q=0.1", Language.TA),  # a weight over 1 is malformed: not wanted
        ("hi;q=0.5000, ta;q=0.1", Language.TA),  # more than 3 decimals: malformed
        ("hi-Deva-IN", Language.HI),  # script and region subtags
        ("*, hi;q=0.1", Language.HI),  # any language: chooses none of ours over another
        ("x" * 30 + ",hi", Language.HI),
    ],
)
def test_the_preferred_language_of_accept_language(header: str | None, language: Language | None) -> None:
    assert preferred(header) == language


def test_the_ranges_of_accept_language_by_weight_then_as_listed() -> None:
    assert ranges("da, en-GB;q=0.8, en;q=0.7") == ["da", "en-GB", "en"]
    assert ranges("en;q=0.7, da, hi;q=0, en-GB;q=0.8") == ["da", "en-GB", "en"]
    assert ranges(",".join(["fr"] * 40 + ["hi"])) == ["fr"] * 32  # a header's first 32 ranges


def test_the_code_sms_exists_in_every_language_with_the_same_fields_in_one_part() -> None:
    for language in Language:
        template = catalogs.template(SIGN_IN_CODE, language)
        assert {name for _, name, _, _ in string.Formatter().parse(template) if name} == {"code", "minutes"}
        text = sign_in_text("123456", 5, language.value)
        assert text == template.format(code="123456", minutes=5) and parts(text) == 1, language
    assert sign_in_text("123456", 5, "fr") == sign_in_text("123456", 5, "en")


def test_the_settings_of_sign_in() -> None:
    assert Settings().sign_in_code_ttl_seconds == 300
    assert Settings.from_env({"SIGN_IN_CODE_TTL_SECONDS": "2"}).sign_in_code_ttl_seconds == 2
    with pytest.raises(SettingsError, match="SIGN_IN_CODE_TTL_SECONDS: must be ≤ 300"):
        Settings.from_env({"SIGN_IN_CODE_TTL_SECONDS": "301"})  # the contract's 5 minutes at most
    with pytest.raises(SettingsError, match="SIGN_IN_CODE_KEY: must be at least 16 characters") as short:
        Settings.from_env({"SIGN_IN_CODE_KEY": "short-key"})
    assert "short-key" not in str(short.value)  # a key is never echoed
    with pytest.raises(SettingsError, match="set SIGN_IN_CODE_KEY or SIGN_IN_CODE_KEY_SECRET"):
        _ = Settings().sign_in_code_key_source
    with pytest.raises(SettingsError, match="COGNITO_USER_POOL_ID"):
        _ = Settings().patient_pool
    with pytest.raises(SettingsError, match="DEFAULT_LANGUAGE: must be one of"):
        Settings.from_env({"DEFAULT_LANGUAGE": "fr"})


# -- the service over fakes -------------------------------------------------------------------------------------


@dataclass
class FakeSignIns:
    """`SignInCodes` and `CodeTickets` in dicts."""

    asked: dict[str, list[int]] = field(default_factory=dict)
    pendings: dict[str, PendingSignIn] = field(default_factory=dict)
    tickets: dict[str, list[CodeTicket]] = field(default_factory=dict)

    def ask(self, phone_key: str, now_ms: int, limit: int, window_ms: int) -> int | None:
        kept = [at for at in self.asked.get(phone_key, []) if at > now_ms - window_ms]
        if len(kept) >= limit:
            return kept[0]
        self.asked[phone_key] = [*kept, now_ms]
        return None

    def pending(self, phone_key: str) -> PendingSignIn | None:
        return self.pendings.get(phone_key)

    def begin(self, phone_key: str, pending: PendingSignIn, ttl_s: int) -> None:
        self.pendings[phone_key] = pending

    def carry_on(self, phone_key: str, pending: PendingSignIn) -> None:
        if phone_key in self.pendings:
            self.pendings[phone_key] = pending

    def end(self, phone_key: str) -> None:
        self.pendings.pop(phone_key, None)

    def give(self, username: str, ticket: CodeTicket, ttl_s: int) -> None:
        self.tickets.setdefault(username, []).append(ticket)

    def take(self, username: str) -> CodeTicket | None:
        waiting = self.tickets.get(username) or []
        return waiting.pop(0) if waiting else None


@dataclass
class FakeAccounts:
    by_phone: dict[str, str] = field(default_factory=dict)

    def patient_of(self, phone: str) -> str | None:
        return self.by_phone.get(phone)

    def has_account(self, patient_id: str) -> bool:
        return patient_id in self.by_phone.values()

    def open(self, phone: str, patient_id: str, now: datetime) -> str | None:
        if phone in self.by_phone:
            return self.by_phone[phone]
        if self.has_account(patient_id):
            return None
        self.by_phone[phone] = patient_id
        return patient_id


@dataclass
class FakePatients:
    records: dict[str, Patient] = field(default_factory=dict)

    def insert(self, patient: Patient) -> bool:
        if patient.patient_id in self.records:
            return False
        self.records[patient.patient_id] = patient
        return True

    def get(self, patient_id: str) -> Patient | None:
        return self.records.get(patient_id)

    def name_and_language(self, patient_id: str) -> NameAndLanguage:
        found = self.records.get(patient_id)
        return NameAndLanguage() if found is None else NameAndLanguage(found.name, found.language)

    def names_of(self, patient_ids: Any) -> dict[str, str]:
        return {}

    def update(self, before: Patient, after: Patient) -> Patient | None:
        return None

    def search(self, q: str) -> list[Patient]:
        return []

    def with_phone(self, phone: str, limit: int) -> list[str]:
        return [p.patient_id for p in self.records.values() if p.phone == phone][:limit]


@dataclass
class FakePool:
    """Cognito as the service sees it: `answers` says what each answer gets (tokens, a session, or None)."""

    enrolled: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    answers: list[Tokens | str | None] = field(default_factory=list)
    answered: list[tuple[str, str, str]] = field(default_factory=list)

    def enrol(self, username: str) -> None:
        self.enrolled.append(username)

    def start(self, username: str) -> str:
        self.started.append(username)
        return f"session-{len(self.started)}"

    def answer(self, username: str, session: str, code: str) -> Tokens | str | None:
        self.answered.append((username, session, code))
        return self.answers.pop(0)


TOKENS = Tokens("access", "refresh", 3600)
T0 = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


@dataclass
class Service:
    signins: FakeSignIns = field(default_factory=FakeSignIns)
    accounts: FakeAccounts = field(default_factory=FakeAccounts)
    patients: FakePatients = field(default_factory=FakePatients)
    pool: FakePool = field(default_factory=FakePool)
    now: list[datetime] = field(default_factory=lambda: [T0])

    def __post_init__(self) -> None:
        self.service = PhoneSignIn(
            self.signins, self.signins, self.accounts, self.patients, self.pool, Settings(), clock=lambda: self.now[0]
        )
        self.service.new_id = lambda: "pt-new"

    def desk_patient(self, patient_id: str, phone: str = PHONE) -> None:
        self.patients.records[patient_id] = Patient(patient_id, "Asha", T0, T0, phone=phone)


def test_a_new_phone_asks_as_a_new_patient_and_nothing_is_written_yet() -> None:
    s = Service()
    requested = s.service.request_code(PHONE, "ta")
    assert (requested.patient_id, requested.new_patient, requested.expires_in) == ("pt-new", True, 300)
    assert s.pool.enrolled == s.pool.started == ["pt-new"]
    assert s.signins.tickets == {"pt-new": [CodeTicket(PHONE, "ta")]}
    assert s.signins.pendings == {otp.phone_key(PHONE): PendingSignIn("pt-new", True, "session-1")}
    assert s.patients.records == {} and s.accounts.by_phone == {}


def test_who_a_phone_signs_in_as() -> None:
    s = Service()
    s.accounts.by_phone[PHONE] = "pt-account"
    assert s.service.request_code(PHONE, "en").patient_id == "pt-account"
    assert s.pool.enrolled == []  # enrolled at its first sign-in
    s = Service()
    s.desk_patient("pt-desk")
    assert (s.service.request_code(PHONE, "en").patient_id, s.pool.enrolled) == ("pt-desk", ["pt-desk"])
    s = Service()
    s.desk_patient("pt-mother")
    s.desk_patient("pt-son")
    assert s.service.request_code(PHONE, "en").new_patient is True  # a shared phone: whose is not known
    s = Service()
    s.desk_patient("pt-desk")
    s.accounts.by_phone["+919876500009"] = "pt-desk"  # signs in with another phone already
    assert s.service.request_code(PHONE, "en").patient_id == "pt-new"


def test_a_second_code_for_a_new_patient_is_for_the_same_one() -> None:
    s = Service()
    s.service.request_code(PHONE, "en")
    s.service.new_id = lambda: "pt-other"
    again = s.service.request_code(PHONE, "en")
    assert (again.patient_id, s.pool.enrolled, s.pool.started) == ("pt-new", ["pt-new"], ["pt-new", "pt-new"])


def test_the_fourth_code_in_15_minutes_is_refused_until_the_first_leaves_the_window() -> None:
    s = Service()
    for minute in (0, 1, 2):
        s.now[0] = T0 + timedelta(minutes=minute)
        s.service.request_code(PHONE, "en")
    s.now[0] = T0 + timedelta(minutes=5)
    with pytest.raises(TooManyCodes) as refused:
        s.service.request_code(PHONE, "en")
    assert refused.value.retry_after_seconds == 600 and PHONE not in refused.value.message
    assert len(s.pool.started) == 3
    s.now[0] = T0 + timedelta(minutes=15, seconds=1)
    s.service.request_code(PHONE, "en")


def test_a_right_code_makes_the_new_patient_and_the_account_once() -> None:
    s = Service()
    s.service.request_code(PHONE, "en")
    s.pool.answers = [TOKENS]
    signed = s.service.verify(PHONE, "123456")
    assert (signed.tokens, signed.patient_id, signed.new_patient) == (TOKENS, "pt-new", True)
    assert s.pool.answered == [("pt-new", "session-1", "123456")]
    patient = s.patients.records["pt-new"]
    assert (patient.name, patient.phone) == (None, PHONE)
    assert s.accounts.by_phone == {PHONE: "pt-new"}
    assert s.signins.pendings == {}  # used
    with pytest.raises(InvalidCode):
        s.service.verify(PHONE, "123456")
    assert len(s.pool.answered) == 1  # a replay never reaches Cognito


def test_a_desk_patients_first_sign_in_opens_the_account_only() -> None:
    s = Service()
    s.desk_patient("pt-desk")
    s.service.request_code(PHONE, "en")
    s.pool.answers = [TOKENS]
    signed = s.service.verify(PHONE, "123456")
    assert (signed.patient_id, signed.new_patient) == ("pt-desk", False)
    assert s.patients.records["pt-desk"].name == "Asha"
    assert s.accounts.by_phone == {PHONE: "pt-desk"}


def test_a_wrong_code_keeps_cognitos_next_session_and_a_refusal_voids_the_sign_in() -> None:
    s = Service()
    s.service.request_code(PHONE, "en")
    s.pool.answers = ["session-2", None]
    with pytest.raises(InvalidCode):
        s.service.verify(PHONE, "000000")
    assert s.signins.pendings[otp.phone_key(PHONE)].session == "session-2"
    with pytest.raises(InvalidCode):
        s.service.verify(PHONE, "000001")
    assert s.signins.pendings[otp.phone_key(PHONE)] == PendingSignIn("pt-new", True, None)
    with pytest.raises(InvalidCode):
        s.service.verify(PHONE, "123456")
    assert [session for _, session, _ in s.pool.answered] == ["session-1", "session-2"]  # void: not asked again
    s.service.new_id = lambda: "pt-other"
    assert s.service.request_code(PHONE, "en").patient_id == "pt-new"  # the next code: the same new patient


def test_no_sign_in_is_kept_when_cognito_cannot_start_one() -> None:
    s = Service()

    def down(username: str) -> str:
        raise DependencyUnavailable("sms", "the sign-in code could not be sent")

    s.pool.start = down  # type: ignore[method-assign]
    with pytest.raises(DependencyUnavailable):
        s.service.request_code(PHONE, "en")
    assert s.signins.pendings == {}
    with pytest.raises(InvalidCode):
        s.service.verify(PHONE, "123456")


# -- the triggers' side ------------------------------------------------------------------------------------------


@dataclass
class FakeBudget:
    cap: list[int] = field(default_factory=list)
    spent: int = 0

    def spend(self, parts: int, cap_parts: int, month: str) -> bool:
        self.cap.append(cap_parts)
        if self.spent + parts > cap_parts:
            return False
        self.spent += parts
        return True

    def give_back(self, parts: int, month: str) -> None:
        self.spent -= parts


@dataclass
class Sender:
    signins: FakeSignIns = field(default_factory=FakeSignIns)
    budget: FakeBudget = field(default_factory=FakeBudget)
    sent: list[tuple[str, str]] = field(default_factory=list)
    settings: Settings = field(default_factory=Settings)

    def __post_init__(self) -> None:
        self.sender = CodeSender(
            self.signins,
            self.budget,
            lambda phone, text: self.sent.append((phone, text)),
            lambda: KEY,
            self.settings,
            clock=lambda: NOW,
            draw=lambda: "424242",
        )


def test_the_first_challenge_sends_a_new_code_against_the_services_ticket() -> None:
    s = Sender()
    s.signins.give(USER, CodeTicket(PHONE, "hi"), 300)
    response = s.sender.create(USER, {"challengeName": "CUSTOM_CHALLENGE", "session": []})
    assert s.sent == [(PHONE, sign_in_text("424242", 5, "hi"))]
    assert s.budget.cap == [500]  # half of the month's 1,000 parts (the defaults: $10 at $0.01)
    kept = CodeChallenge.from_metadata(response["challengeMetadata"])
    assert kept is not None and kept.expires_at == NOW + 300
    request = {"privateChallengeParameters": response["privateChallengeParameters"], "challengeAnswer": "424242"}
    assert CodeChecker(lambda: KEY, clock=lambda: NOW).verify(USER, request) is True
    assert "424242" not in str(response)


def test_a_retry_sends_nothing_and_asks_the_same_code() -> None:
    s = Sender()
    sent = challenge()
    response = s.sender.create(USER, {"session": tried(False, sent=sent)})
    assert response["challengeMetadata"] == sent.metadata() and s.sent == [] and s.budget.spent == 0


def test_without_the_services_ticket_no_code_is_sent() -> None:
    s = Sender()
    with pytest.raises(CodeNotSent, match="no sign-in code was asked"):
        s.sender.create(USER, {"session": []})
    assert s.sent == [] and s.budget.spent == 0


def test_beyond_the_codes_share_of_the_limit_no_code_is_sent() -> None:
    s = Sender(settings=Settings(sign_in_sms_share_percent=0))
    s.signins.give(USER, CodeTicket(PHONE, "en"), 300)
    with pytest.raises(CodeNotSent, match="spend limit"):
        s.sender.create(USER, {"session": []})
    assert s.sent == []


def test_a_failed_send_gives_the_parts_back_and_never_names_the_phone() -> None:
    s = Sender()
    s.signins.give(USER, CodeTicket(PHONE, "en"), 300)

    def refuse(phone: str, text: str) -> None:
        raise RuntimeError(f"Invalid parameter: PhoneNumber {phone}")

    s.sender.send = refuse
    with pytest.raises(CodeNotSent) as failed:
        s.sender.create(USER, {"session": []})
    assert PHONE not in str(failed.value) and failed.value.__cause__ is None and failed.value.__suppress_context__
    assert s.budget.spent == 0


# -- the triggers' entry point -------------------------------------------------------------------------------------


def test_a_trigger_answers_its_own_events_only() -> None:
    from devserver.apigw import LambdaContext
    from functions.auth_define_challenge.app import lambda_handler

    context: Any = LambdaContext("AuthDefineChallengeFunction", 256, 5)
    event = {"triggerSource": "DefineAuthChallenge_Authentication", "userName": USER, "request": {"session": []}}
    answered = lambda_handler(event, context)
    assert answered["response"] == otp.ASK and answered["userName"] == USER
    with pytest.raises(ValueError, match="not a DefineAuthChallenge_Authentication event"):
        lambda_handler({**event, "triggerSource": "CreateAuthChallenge_Authentication"}, context)


def test_under_snapstart_a_trigger_imports_its_clients_before_the_snapshot_and_makes_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from devserver.snapstart import LocalSnapStart
    from opd import runtime
    from opd.api import snapstart
    from opd.triggers import make_trigger

    fake = LocalSnapStart()
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", fake)
    runtime.reset()
    make_trigger("CreateAuthChallenge_Authentication", lambda event: {}, prime=("boto3", "opd.service.signin"))
    assert [func for func, _, _ in fake.after] == [snapstart.after_restore]
    for func, args, kwargs in fake.before:  # the snapshot: no socket may be opened here (tests/unit/conftest.py)
        func(*args, **kwargs)
    assert "boto3" in sys.modules and "opd.service.signin" in sys.modules
    assert runtime.code_sender.cache_info().currsize == runtime.sign_in_code_key.cache_info().currsize == 0
