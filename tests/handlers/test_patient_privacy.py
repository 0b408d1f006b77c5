"""No log line carries a patient's name, phone or ABHA address (contract, "People"): the register's routes and a
booking with a phone, answered and refused, through their handlers with every log line they write captured.

What is captured: the Powertools logger's own JSON stream (the service's lines and the layer's modules', which
are its children) at DEBUG, the most the template's LogLevel allows; the root logger at INFO (other libraries);
and stdout and stderr (the metrics' EMF lines). A patientId may appear, and does.
"""

from __future__ import annotations

import io
from typing import Any

import pytest

from opd.domain import Slot
from tests.handlers.support import Answer, call, event

NAME, NEW_NAME = "Meenakshi Sundaram", "Meenakshi Iyer"
PHONE, NEW_PHONE, BOOKING_PHONE = "+919845012345", "+919845067890", "+919845011111"
ABHA = "meenakshi.s@abdm"
# Each must be absent from every line; the name's words, and the phones without their `+`, on their own too.
NEVER_LOGGED = [
    NAME,
    NEW_NAME,
    "Meenakshi",
    "Sundaram",
    "meenakshi",  # folded, as the search keys hold it
    "sundaram",
    *(phone.removeprefix("+") for phone in (PHONE, NEW_PHONE, BOOKING_PHONE)),
    *(phone.removeprefix("+91") for phone in (PHONE, NEW_PHONE, BOOKING_PHONE)),
    "98450 12345",  # as the desk typed it
    ABHA,
    "meenakshi.s",
]


def as_role(name: str, role: str, user: str | None = None, **parts: Any) -> Answer:
    return call(name, event(name, role=role, user=user, **parts))


def test_no_log_line_carries_a_name_phone_or_abha_address(
    slot: Slot, log_lines: io.StringIO, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    made = as_role("register_patient", "reception", body={"name": NAME, "phone": PHONE, "abhaAddress": ABHA})
    assert made.status == 201, made.body
    patient_id = made.body["patientId"]
    own = {"patientId": patient_id}
    answers = [
        as_role("register_patient", "reception", body={"name": NAME, "abhaAddress": ABHA.upper()}),  # 409
        as_role("register_patient", "reception", body={"name": f"{NAME} 2", "phone": PHONE}),  # 400 (domain)
        as_role("register_patient", "admin", body={"name": NAME, "phone": PHONE, "age": 40}),  # 400 (model)
        as_role("register_patient", "patient", body={"name": NAME, "phone": PHONE}),  # 403
        as_role("search_patients", "reception", query={"q": "meenak"}),
        as_role("search_patients", "reception", query={"q": "+91 98450 12345"}),
        as_role("search_patients", "patient", query={"q": "sundar"}),  # 403
        as_role("get_patient", "reception", path=own),
        as_role("get_patient", "patient", user=patient_id, path=own),
        as_role("update_patient", "patient", user=patient_id, path=own, body={"phone": NEW_PHONE}),
        as_role("update_patient", "reception", path=own, body={"name": NEW_NAME}),
        as_role("update_patient", "reception", path=own, body={"phone": PHONE[:6]}),  # 400
        as_role("update_patient", "reception", path={"patientId": "pt-nobody"}, body={"name": NAME}),  # 404
    ]
    booking = {"slotId": slot.slot_id, "patientId": patient_id, "source": "WALKIN", "phone": BOOKING_PHONE}
    key = {"Idempotency-Key": "privacy-1"}
    answers += [
        as_role("create_booking", "reception", body=booking, headers=key),
        as_role("create_booking", "reception", body=booking, headers=key),  # the repeat: the first answer
        as_role("create_booking", "reception", body=booking | {"source": "PAID"}, headers=key),  # 409: the key's
        as_role("create_booking", "reception", body=booking),  # 409 DUPLICATE_BOOKING
        as_role("create_booking", "reception", body=booking | {"phone": BOOKING_PHONE[:5]}),  # 400
    ]
    statuses = [answer.status for answer in answers]
    assert statuses == [409, 400, 400, 403, 200, 200, 403, 200, 200, 200, 200, 400, 404, 201, 201, 409, 409, 400]

    captured = capsys.readouterr()
    logged = "\n".join([log_lines.getvalue(), caplog.text, captured.out, captured.err])
    # The capture sees what the routes log: each registration and change, by the patient's id.
    assert '"message":"patient registered"' in logged and f'"patient_id":"{patient_id}"' in logged
    assert logged.count('"message":"patient updated"') == 2 and '"request refused"' in logged
    leaked = [secret for secret in NEVER_LOGGED if secret in logged]
    assert leaked == [], [line for line in logged.splitlines() if any(secret in line for secret in leaked)]
