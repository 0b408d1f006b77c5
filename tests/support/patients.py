"""What the patient register's integration tests share: their clock, and a patient registered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opd.domain.patients import Patient, register
from opd.patients import PatientStore

NOW = datetime(2026, 11, 21, 4, 30, 0, 123000, tzinfo=UTC)  # BSON keeps milliseconds
LATER = NOW + timedelta(hours=1)
THIS_YEAR = 2026


def registered(store: PatientStore, patient_id: str, **body: object) -> Patient:
    made = register(patient_id, body, NOW, THIS_YEAR)
    assert store.insert(made)
    return made
