"""ABDM Scan & Share without servers: the share as ABDM posts it, the profile as the register keeps it, the on-share
callback's body and tries, the gateway client's session, and the consumer's decisions."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from opd.abdm.gateway import SESSIONS_PATH, TOKEN_MARGIN_S, AbdmGateway, Answer, GatewayFailed
from opd.abdm.onshare import CallbackNotReady, Delivered, OnShareSender
from opd.abdm.queue import OnShareMessage
from opd.abdm.share import PatientsByAbha, ProfileShare, ScanAndShare, ShareHeaders
from opd.domain import abdm
from opd.domain.languages import Language
from opd.domain.patients import Patient, Sex
from opd.errors import PatientExists, ValidationFailed
from opd.service.counters import CounterDesk, PendingCallback
from opd.settings import Settings

NOW = datetime(2026, 11, 21, 4, 30, tzinfo=UTC)
HIP = "IN2710000123"


def care_body(**patient: Any) -> dict[str, Any]:
    """A share as CARE's care_abdm receives it from the gateway (ABDM v3), with whatever the gateway adds."""
    shared = {
        "abhaNumber": "91-1234-5678-9012",
        "abhaAddress": "Ravi.Kumar@sbx",
        "name": "Ravi Kumar",
        "gender": "M",
        "dayOfBirth": "12",
        "monthOfBirth": "5",
        "yearOfBirth": "1984",
        "address": {"line": "12 MG Road", "district": "Pune", "state": "Maharashtra", "pincode": "411001"},
        "phoneNumber": "9876543210",
        "verifiedBy": "AADHAAR",  # unknown to us: ignored, not refused
    } | patient
    return {
        "intent": "PROFILE_SHARE",
        "metaData": {"hipId": HIP, "context": "reg-1", "hprId": "", "latitude": "18.52", "longitude": "73.85"},
        "profile": {"patient": {name: value for name, value in shared.items() if value is not None}},
    }


# -- the share's body and headers ---------------------------------------------------------------------------


def test_a_share_as_care_receives_it_is_read() -> None:
    share = ProfileShare.read(care_body())
    patient = share.profile.patient
    assert (share.intent, share.meta_data.hip_id, share.meta_data.context) == ("PROFILE_SHARE", HIP, "reg-1")
    assert (patient.abha_address, patient.name, patient.gender, patient.year_of_birth) == (
        "Ravi.Kumar@sbx",
        "Ravi Kumar",
        "M",
        "1984",
    )
    assert patient.address is not None and patient.address.pincode == "411001"


def test_a_share_of_the_fewest_fields_is_read() -> None:
    body = {"intent": "PROFILE_SHARE", "metaData": {"hipId": HIP, "context": 7}}
    body["profile"] = {"patient": {"abhaAddress": "asha@sbx", "name": "Asha"}}
    share = ProfileShare.read(body)
    assert share.meta_data.context == 7 and share.profile.patient.gender is None


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        (lambda b: b.pop("intent"), {"intent"}),
        (lambda b: b.update(intent="PAYMENT"), {"intent"}),
        (lambda b: b.pop("profile"), {"profile"}),
        (lambda b: b["profile"]["patient"].pop("abhaAddress"), {"profile.patient.abhaAddress"}),
        (lambda b: b["profile"]["patient"].update(name="x" * 201), {"profile.patient.name"}),
        (lambda b: b["metaData"].pop("hipId"), {"metaData.hipId"}),
    ],
)
def test_a_share_without_what_it_needs_is_refused_naming_the_field(change: Any, fields: set[str]) -> None:
    body = care_body()
    change(body)
    with pytest.raises(ValidationFailed) as refused:
        ProfileShare.read(body)
    assert {detail["field"] for detail in refused.value.details} == fields


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        ProfileShare.read(["PROFILE_SHARE"])


def headers(**given: str) -> dict[str, str]:
    sent = {"request-id": str(uuid.uuid4()), "timestamp": "2026-11-21T04:30:00.587Z", "x-hip-id": HIP, "x-cm-id": "sbx"}
    return sent | given


def test_abdms_headers_are_read_whatever_their_case() -> None:
    sent = {name.upper(): value for name, value in headers().items()}
    read = ShareHeaders.read(sent, HIP)
    assert (read.request_id, read.hip_id, read.cm_id) == (sent["REQUEST-ID"], HIP, "sbx")


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"request-id": "not-a-uuid"}, "REQUEST-ID"),
        ({"request-id": ""}, "REQUEST-ID"),
        ({"timestamp": ""}, "TIMESTAMP"),
        ({"x-hip-id": "ANOTHER-HIP"}, "X-HIP-ID"),
        ({"x-hip-id": ""}, "X-HIP-ID"),
    ],
)
def test_a_share_with_bad_headers_or_for_another_hip_is_refused(given: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        ShareHeaders.read(headers(**given), HIP)
    assert [detail["field"] for detail in refused.value.details] == [field]


# -- the profile as the register keeps it --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gender", "sex"),
    [
        ("M", Sex.M),
        ("F", Sex.F),
        ("O", Sex.O),
        ("D", Sex.U),  # "do not want to disclose"
        ("T", Sex.O),
        ("female", Sex.F),
        ("Male", Sex.M),
        ("X", Sex.U),
        ("", None),
        (None, None),
        (3, None),
    ],
)
def test_abdms_gender_is_the_registers_sex(gender: object, sex: Sex | None) -> None:
    assert abdm.sex_of(gender) is sex


@pytest.mark.parametrize(
    ("number", "phone"),
    [
        ("9876543210", "+919876543210"),
        ("919876543210", "+919876543210"),
        ("+91 98765 43210", "+919876543210"),
        ("+91-9876543210", "+919876543210"),
        ("09876543210", "+919876543210"),
        (9876543210, "+919876543210"),
        ("+447700900123", "+447700900123"),  # already E.164
        ("XXXXXX3210", None),  # masked
        ("12345", None),
        ("5876543210", None),  # not an Indian mobile
        ("", None),
        (None, None),
        (True, None),
    ],
)
def test_abhas_mobile_is_an_e164_phone_or_none(number: object, phone: str | None) -> None:
    assert abdm.phone_of(number) == phone


@pytest.mark.parametrize(
    ("given", "year"), [(1984, 1984), ("1984", 1984), (" 1984 ", 1984), (1899, None), (2027, None), ("84a", None)]
)
def test_a_year_of_birth_the_register_cannot_keep_is_unknown(given: object, year: int | None) -> None:
    assert abdm.year_of_birth(given, this_year=2026) == year


def test_a_name_keeps_what_a_name_may_hold_and_loses_the_rest() -> None:
    assert abdm.name_of("  Ravi   Kumar ") == "Ravi Kumar"
    assert abdm.name_of("Ravi S/O Ramesh, 2nd") == "Ravi S O Ramesh nd"
    assert abdm.name_of("रवि कुमार") == "रवि कुमार"
    assert len(abdm.name_of("Venkata " * 20)) == 79  # cut at 80, the space it ended on dropped


@pytest.mark.parametrize("name", ["1234", "", "  ", None, 42])
def test_a_name_without_a_letter_is_refused(name: object) -> None:
    with pytest.raises(ValidationFailed) as refused:
        abdm.name_of(name)
    assert refused.value.details[0]["field"] == "profile.patient.name"


def test_an_abha_address_is_kept_in_lower_case_and_checked() -> None:
    assert abdm.abha_address_of(" Ravi.Kumar@SBX ") == "ravi.kumar@sbx"
    for bad in ("ravi kumar@sbx", "nobody", "", None):
        with pytest.raises(ValidationFailed) as refused:
            abdm.abha_address_of(bad)
        assert refused.value.details[0]["field"] == "profile.patient.abhaAddress"


def test_an_address_is_one_line() -> None:
    assert abdm.address_of("12 MG Road", "Pune", "Maharashtra", "411001") == "12 MG Road, Pune, Maharashtra 411001"
    assert abdm.address_of("12\nMG  Road", None, "", 411001) == "12 MG Road 411001"
    assert abdm.address_of("", None, " ", "") is None
    assert len(abdm.address_of("x" * 500, None, None, None) or "") == abdm.MAX_ADDRESS


# -- the on-share callback and its tries -----------------------------------------------------------------------


def test_the_on_share_body_is_abdms() -> None:
    assert abdm.on_share_body("6f0b4665-a915-4c92-aa36-65afb4a2cd71", "ravi.kumar@sbx", "reg-1", 7, 1800) == {
        "acknowledgement": {
            "status": "SUCCESS",
            "abhaAddress": "ravi.kumar@sbx",
            "context": "reg-1",
            "tokenNumber": "7",
            "expiry": 1800,
        },
        "response": {"requestId": "6f0b4665-a915-4c92-aa36-65afb4a2cd71"},
    }


def test_each_try_waits_twice_as_long_up_to_15_minutes() -> None:
    assert [abdm.retry_delay_s(n) for n in range(1, 12)] == [2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    assert abdm.retry_delay_s(0) == 2 and abdm.retry_delay_s(10_000) == 900
    assert sum(abdm.retry_delay_s(n) for n in range(1, 10)) < 20 * 60  # 10 receives: the DLQ within ~17 minutes


def test_a_queue_message_names_one_share_and_nothing_else() -> None:
    message = OnShareMessage("reg-1", "ravi.kumar@sbx")
    assert json.loads(message.as_body()) == {"counterId": "reg-1", "abhaAddress": "ravi.kumar@sbx"}
    assert OnShareMessage.of_body(message.as_body()) == message
    for body in ("", "[]", "{}", '{"counterId": "reg-1"}', '{"counterId": 1, "abhaAddress": "a@sbx"}', "{"):
        assert OnShareMessage.of_body(body) is None


# -- the gateway client: a session kept until near its expiry ---------------------------------------------------


@dataclass
class FakeGatewayHttp:
    answers: list[Answer]
    calls: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)

    def __call__(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> Answer:
        self.calls.append((url, body, headers))
        return self.answers.pop(0)


def session(expires_in: int = 1200) -> Answer:
    return Answer(200, json.dumps({"accessToken": f"token-{expires_in}", "expiresIn": expires_in}).encode())


def test_a_session_is_asked_for_once_and_kept_until_a_minute_before_it_expires() -> None:
    now = [0.0]
    http = FakeGatewayHttp([session(600), Answer(202, b""), Answer(202, b""), session(600), Answer(202, b"")])
    gateway = AbdmGateway(
        "https://dev.abdm.gov.in/", "sbx", "client-1", lambda: "secret-1", post=http, clock=lambda: now[0]
    )
    gateway.on_share({"n": 1})
    now[0] = 600 - TOKEN_MARGIN_S - 1
    gateway.on_share({"n": 2})
    now[0] = 600 - TOKEN_MARGIN_S
    gateway.on_share({"n": 3})
    urls = [url for url, _, _ in http.calls]
    assert urls == [
        "https://dev.abdm.gov.in" + SESSIONS_PATH,
        "https://dev.abdm.gov.in/api/hiecm/patient-share/v3/on-share",
        "https://dev.abdm.gov.in/api/hiecm/patient-share/v3/on-share",
        "https://dev.abdm.gov.in" + SESSIONS_PATH,
        "https://dev.abdm.gov.in/api/hiecm/patient-share/v3/on-share",
    ]
    _, credentials, session_headers = http.calls[0]
    assert credentials == {"clientId": "client-1", "clientSecret": "secret-1", "grantType": "client_credentials"}
    _, body, on_share_headers = http.calls[1]
    assert body == {"n": 1} and on_share_headers["Authorization"] == "Bearer token-600"
    for sent in (session_headers, on_share_headers):
        uuid.UUID(sent["REQUEST-ID"])
        assert sent["X-CM-ID"] == "sbx" and sent["TIMESTAMP"].endswith("Z")
    assert on_share_headers["REQUEST-ID"] != http.calls[2][2]["REQUEST-ID"]  # a new one per call


def test_a_refused_on_share_fails_and_a_refused_token_is_dropped() -> None:
    http = FakeGatewayHttp([session(), Answer(503, b""), Answer(401, b""), session(), Answer(200, b"")])
    gateway = AbdmGateway("https://gw", "sbx", "client-1", lambda: "s", post=http)
    with pytest.raises(GatewayFailed) as down:
        gateway.on_share({})
    assert down.value.status == 503
    with pytest.raises(GatewayFailed):
        gateway.on_share({})  # the same token, refused: dropped
    gateway.on_share({})  # a new session, then the callback
    assert [url.rpartition("/")[2] for url, _, _ in http.calls] == [
        "sessions",
        "on-share",
        "on-share",
        "sessions",
        "on-share",
    ]


@pytest.mark.parametrize("refused", [Answer(401, b"{}"), Answer(200, b"not json"), Answer(200, b'{"accessToken": ""}')])
def test_a_session_the_gateway_does_not_give_fails_the_callback(refused: Answer) -> None:
    gateway = AbdmGateway("https://gw", "sbx", "client-1", lambda: "s", post=FakeGatewayHttp([refused]))
    with pytest.raises(GatewayFailed):
        gateway.on_share({})


# -- the consumer's decisions -------------------------------------------------------------------------------------


@dataclass
class FakeDesk:
    owed: PendingCallback | None
    sent: list[tuple[str, str, str, datetime]] = field(default_factory=list)

    def share_callback(self, counter_id: str, abha_address: str) -> PendingCallback | None:
        return self.owed

    def callback_sent(self, counter_id: str, abha_address: str, request_id: str, at: datetime) -> bool:
        self.sent.append((counter_id, abha_address, request_id, at))
        return True


@dataclass
class RecordingGateway:
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def on_share(self, body: dict[str, Any]) -> None:
        self.bodies.append(body)


OWED = PendingCallback(
    request_id="6f0b4665-a915-4c92-aa36-65afb4a2cd71",
    abha_address="ravi.kumar@sbx",
    context="reg-1",
    token_number=3,
    label="R-3",
    expiry=1740,
    sent_at=None,
)
MESSAGE = OnShareMessage("reg-1", "ravi.kumar@sbx").as_body()


def sender(desk: FakeDesk, gateway: RecordingGateway) -> OnShareSender:
    return OnShareSender(cast(CounterDesk, desk), gateway, clock=lambda: NOW)


def test_an_owed_callback_is_sent_and_recorded_for_its_request() -> None:
    desk, gateway = FakeDesk(OWED), RecordingGateway()
    assert sender(desk, gateway).deliver(MESSAGE) is Delivered.SENT
    assert gateway.bodies == [abdm.on_share_body(OWED.request_id, "ravi.kumar@sbx", "reg-1", 3, 1740)]
    assert desk.sent == [("reg-1", "ravi.kumar@sbx", OWED.request_id, NOW)]


def test_a_callback_sent_already_is_not_sent_again() -> None:
    desk, gateway = FakeDesk(replace(OWED, sent_at=NOW)), RecordingGateway()
    assert sender(desk, gateway).deliver(MESSAGE) is Delivered.ALREADY_SENT
    assert gateway.bodies == [] and desk.sent == []


def test_an_earlier_share_of_the_address_gets_its_own_callback_without_touching_the_latest_s_record() -> None:
    # The patient scanned twice before the first callback went: the first request still hears of its token.
    desk, gateway = FakeDesk(replace(OWED, sent_at=NOW)), RecordingGateway()
    earlier = OnShareMessage("reg-1", "ravi.kumar@sbx", "0a1b2c3d-0000-4000-8000-000000000001").as_body()
    assert sender(desk, gateway).deliver(earlier) is Delivered.SENT
    assert gateway.bodies == [
        abdm.on_share_body("0a1b2c3d-0000-4000-8000-000000000001", "ravi.kumar@sbx", "reg-1", 3, 1740)
    ]
    assert desk.sent == []  # the record is the latest share's: it stays as it was


def test_a_message_naming_the_latest_share_is_that_share_s_callback() -> None:
    desk, gateway = FakeDesk(OWED), RecordingGateway()
    named = OnShareMessage("reg-1", "ravi.kumar@sbx", OWED.request_id).as_body()
    assert sender(desk, gateway).deliver(named) is Delivered.SENT
    assert desk.sent == [("reg-1", "ravi.kumar@sbx", OWED.request_id, NOW)]
    assert sender(FakeDesk(replace(OWED, sent_at=NOW)), gateway).deliver(named) is Delivered.ALREADY_SENT


def test_a_share_without_its_number_yet_is_tried_again() -> None:
    with pytest.raises(CallbackNotReady):
        sender(FakeDesk(None), RecordingGateway()).deliver(MESSAGE)


def test_a_message_that_names_no_share_is_dropped() -> None:
    desk, gateway = FakeDesk(OWED), RecordingGateway()
    assert sender(desk, gateway).deliver("garbage") is Delivered.UNREADABLE
    assert gateway.bodies == [] and desk.sent == []


def test_a_callback_the_gateway_refuses_is_not_recorded() -> None:
    class Down(RecordingGateway):
        def on_share(self, body: dict[str, Any]) -> None:
            raise GatewayFailed("HTTP 503", 503)

    desk = FakeDesk(OWED)
    with pytest.raises(GatewayFailed):
        sender(desk, Down()).deliver(MESSAGE)
    assert desk.sent == []


# -- the register's side of a share ------------------------------------------------------------------------------


class AbhaRecords:
    """The register in a dict, with its unique ABHA addresses; `taken_first` registers someone else first (a race)."""

    def __init__(self) -> None:
        self.kept: dict[str, Patient] = {}
        self.writes = 0
        self.taken_first: Patient | None = None

    def holding(self, abha_address: str) -> Patient | None:
        return next((p for p in self.kept.values() if p.abha_address == abha_address), None)

    def insert(self, patient: Patient) -> bool:
        if self.taken_first is not None:
            self.kept[self.taken_first.patient_id], self.taken_first = self.taken_first, None
        if self.holding(patient.abha_address or "") is not None:
            raise PatientExists("a patient with this abhaAddress is registered")
        self.writes += 1
        self.kept[patient.patient_id] = patient
        return True

    def update(self, before: Patient, after: Patient) -> Patient | None:
        if self.kept[before.patient_id].version != before.version:
            return None
        self.writes += 1
        self.kept[before.patient_id] = replace(after, version=before.version + 1)
        return self.kept[before.patient_id]

    def get(self, patient_id: str) -> Patient | None:
        return self.kept.get(patient_id)


def scan_and_share(records: AbhaRecords) -> ScanAndShare:
    return ScanAndShare(
        cast(PatientsByAbha, records),
        cast(CounterDesk, None),
        outbox=cast(Any, None),
        settings=Settings(clinic_time_zone="Asia/Kolkata"),
        clock=lambda: NOW,
        new_id=lambda: "pt-new",
    )


def test_a_first_share_registers_the_patient_with_what_abha_holds() -> None:
    records = AbhaRecords()
    patient = scan_and_share(records).enrol("ravi.kumar@sbx", ProfileShare.read(care_body()).profile.patient)
    assert patient == records.kept["pt-new"]
    assert (patient.name, patient.sex, patient.year_of_birth, patient.phone) == (
        "Ravi Kumar",
        Sex.M,
        1984,
        "+919876543210",
    )
    assert (patient.abha_address, patient.address) == ("ravi.kumar@sbx", "12 MG Road, Pune, Maharashtra 411001")


def test_a_repeat_share_that_changes_nothing_writes_nothing() -> None:
    records, shared = AbhaRecords(), ProfileShare.read(care_body()).profile.patient
    first = scan_and_share(records).enrol("ravi.kumar@sbx", shared)
    assert scan_and_share(records).enrol("ravi.kumar@sbx", shared) == first
    assert records.writes == 1


def test_a_later_share_updates_what_it_gives_and_keeps_the_rest() -> None:
    records = AbhaRecords()
    records.kept["pt-desk"] = Patient(
        "pt-desk", "Ravi", NOW, NOW, "+919000000001", language=Language.TA, abha_address="ravi.kumar@sbx"
    )
    shared = ProfileShare.read(care_body(phoneNumber="XXXXXX3210", address=None, gender="D")).profile.patient
    patient = scan_and_share(records).enrol("ravi.kumar@sbx", shared)
    assert patient.patient_id == "pt-desk" and patient.version == 1
    assert (patient.name, patient.phone, patient.sex, patient.year_of_birth) == (
        "Ravi Kumar",
        "+919000000001",
        Sex.U,
        1984,
    )
    assert patient.language is Language.TA  # the desk's, which ABHA does not know


def test_a_share_that_loses_the_registration_race_updates_the_winner() -> None:
    records = AbhaRecords()
    records.taken_first = Patient("pt-other", "Ravi", NOW, NOW, abha_address="ravi.kumar@sbx")
    patient = scan_and_share(records).enrol("ravi.kumar@sbx", ProfileShare.read(care_body()).profile.patient)
    assert patient.patient_id == "pt-other" and patient.name == "Ravi Kumar"
    assert set(records.kept) == {"pt-other"}
