"""POST /abdm/v3/hip/patient/profile/share: the profile share the ABDM gateway posts when a patient scans a counter's
QR code with an ABHA app, and what the service does with it.

The request, as ABDM's v3 profile share gives it (and CARE's care_abdm receives it): headers REQUEST-ID (a UUID),
TIMESTAMP, X-HIP-ID (this HIP's id) and X-CM-ID; body `{"intent": "PROFILE_SHARE", "metaData": {"hipId", "context"
(the counter's id, the QR code's context), "hprId", "latitude", "longitude"}, "profile": {"patient": {"abhaNumber",
"abhaAddress", "name", "gender", "dayOfBirth", "monthOfBirth", "yearOfBirth", "address": {"line", "district",
"state", "pincode"}, "phoneNumber"}}}`. Fields beyond these are ignored, not refused: ABDM adds fields between
versions, and a share refused for one would leave the patient at the counter without a token.

`ScanAndShare.take`, once the gateway's token is verified (the handler, first): the patient registered or updated by
ABHA address (`domain.abdm`: what the register can keep), the counter's token (`CounterDesk.issue_for_share`: the
same one for a repeat share within 30 minutes), then the on-share queued (`opd.abdm.queue`). All of it is MongoDB
and one SendMessage, well within the gateway's timeout; the callback itself is the consumer's (`opd.abdm.onshare`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from opd.abdm.onshare import OnShareOutbox
from opd.contract import ResponseModel
from opd.domain import abdm, require_id
from opd.domain import patients as patient_rules
from opd.domain.patients import Patient
from opd.errors import PatientExists, SlotBusy, ValidationFailed
from opd.ports import PatientRecords
from opd.service.ids import utc_now
from opd.settings import Settings

if TYPE_CHECKING:
    from opd.service.counters import CounterDesk, SharedToken

log = logging.getLogger(__name__)

MAX_TEXT = 200  # characters of any text of the profile: ABHA's are far shorter; this only bounds what is read


class _AbdmModel(BaseModel):
    """The gateway's JSON: camelCase, unknown fields ignored (see the module), each text bounded."""

    model_config = ConfigDict(
        defer_build=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        extra="ignore",
        frozen=True,
    )


Text = Annotated[str, Field(max_length=MAX_TEXT)]
Number = int | Annotated[str, Field(max_length=20)]  # ABDM writes some numbers as text ("1984", pincodes)


class SharedAddress(_AbdmModel):
    line: Text | None = None
    district: Text | None = None
    state: Text | None = None
    pincode: Number | None = None


class SharedPatient(_AbdmModel):
    abha_number: Text | None = None  # not kept: the register knows patients by ABHA address
    abha_address: Text
    name: Text
    gender: Text | None = None
    day_of_birth: Number | None = None
    month_of_birth: Number | None = None
    year_of_birth: Number | None = None
    address: SharedAddress | None = None
    phone_number: Number | None = None


class ShareProfile(_AbdmModel):
    patient: SharedPatient


class ShareMetaData(_AbdmModel):
    hip_id: Text
    context: Number  # the counter's id, as the QR code at the counter names it
    hpr_id: Text | None = None
    latitude: float | Text | None = None
    longitude: float | Text | None = None


class ProfileShare(_AbdmModel):
    intent: Literal["PROFILE_SHARE"]
    meta_data: ShareMetaData
    profile: ShareProfile

    @classmethod
    def read(cls, body: Any) -> ProfileShare:
        """The share a parsed JSON body holds; ValidationFailed naming each field (dotted, as ABDM names them)."""
        try:
            return cls.model_validate(body)
        except ValidationError as invalid:
            details = [
                {"field": ".".join(str(part) for part in error["loc"]) or "body", "message": error["msg"]}
                for error in invalid.errors(include_url=False)
            ]
            raise ValidationFailed(
                f"invalid profile share: {', '.join(d['field'] for d in details)}", details
            ) from None


@dataclass(frozen=True)
class ShareHeaders:
    """ABDM's headers of a share: REQUEST-ID (its on-share answers it), TIMESTAMP, X-HIP-ID, X-CM-ID."""

    request_id: str
    timestamp: str
    hip_id: str
    cm_id: str | None

    @classmethod
    def read(cls, headers: Mapping[str, str], hip_id: str) -> ShareHeaders:
        """The headers of a share to this HIP (`hip_id`); ValidationFailed naming each header refused."""
        given = {str(name).lower(): str(value).strip() for name, value in headers.items()}
        request_id, stamp, to_hip = given.get("request-id", ""), given.get("timestamp", ""), given.get("x-hip-id", "")
        details = []
        try:
            uuid.UUID(request_id)
        except ValueError:
            details.append({"field": "REQUEST-ID", "message": "must be a UUID"})
        if not 1 <= len(stamp) <= MAX_TEXT:
            details.append({"field": "TIMESTAMP", "message": "is required (ISO 8601)"})
        if to_hip != hip_id:
            details.append({"field": "X-HIP-ID", "message": "must be this HIP's id: the share is for another HIP"})
        if details:
            raise ValidationFailed(f"invalid profile share: {', '.join(d['field'] for d in details)}", details)
        return cls(request_id, stamp, to_hip, given.get("x-cm-id") or None)


class ShareAcceptedOut(ResponseModel):
    """202: the share is taken; the token goes to the patient's app in the on-share callback."""

    request_id: str
    status: Literal["ACCEPTED"] = "ACCEPTED"


class PatientsByAbha(PatientRecords, Protocol):
    """The register, and who in it holds an ABHA address (`opd.patients.PatientStore`)."""

    def holding(self, abha_address: str) -> Patient | None: ...


@dataclass(frozen=True)
class ShareTaken:
    patient: Patient
    shared: SharedToken
    queued: bool  # False: SendMessage failed; the sweeper sends the on-share later


class ScanAndShare:
    """A verified share's work: the register, the counter's token, the on-share owed."""

    def __init__(
        self,
        patients: PatientsByAbha,
        desk: CounterDesk,
        outbox: OnShareOutbox,
        settings: Settings,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = patient_rules.new_patient_id,
    ) -> None:
        self.patients = patients
        self.desk = desk
        self.outbox = outbox
        self.settings = settings
        self.clock = clock
        self.new_id = new_id

    def take(self, share: ProfileShare, headers: ShareHeaders) -> ShareTaken:
        """The share of `headers.request_id`; ValidationFailed for a share to another HIP or of no one."""
        if share.meta_data.hip_id != headers.hip_id:
            raise ValidationFailed.field("metaData.hipId", "must be this HIP's id: the share is for another HIP")
        counter_id = require_id("metaData.context", str(share.meta_data.context))
        shared = share.profile.patient
        abha_address = abdm.abha_address_of(shared.abha_address)
        patient = self.enrol(abha_address, shared)
        token = self.desk.issue_for_share(
            counter_id, abha_address=abha_address, patient_id=patient.patient_id, request_id=headers.request_id
        )
        return ShareTaken(patient, token, self._queue(counter_id, abha_address, headers.request_id))

    def enrol(self, abha_address: str, shared: SharedPatient) -> Patient:
        """The patient holding this ABHA address with the profile's name, sex, year of birth, phone and address (what
        the profile does not give is left as it was), registered if nobody holds it. A repeat share that changes
        nothing writes nothing; one that lost a race to another (a double scan) reads again and applies the same."""
        name = abdm.name_of(shared.name)
        address = None if shared.address is None else _address_line(shared.address)
        for _ in range(self.settings.write_attempts):
            now = self.clock()
            this_year = now.astimezone(self.settings.clinic_zone).year
            fields = _fields(shared, name, this_year)
            current = self.patients.holding(abha_address)
            if current is None:
                made = patient_rules.register(self.new_id(), {**fields, "abhaAddress": abha_address}, now, this_year)
                try:
                    if self.patients.insert(replace(made, address=address)):
                        return replace(made, address=address)
                except PatientExists:  # another share registered them meanwhile: update that record
                    pass
                continue
            after = replace(patient_rules.amend(current, fields, now, this_year), address=address or current.address)
            if replace(after, updated_at=current.updated_at) == current:
                return current
            written = self.patients.update(current, after)
            if written is not None:
                return written
        raise SlotBusy("this patient's record kept changing under the share, try again", retry_after_seconds=1)

    def _queue(self, counter_id: str, abha_address: str, request_id: str) -> bool:
        """The on-share, onto its queue. A failure does not fail the share: the token is issued and its on-share is
        recorded as owed, so the sweeper sends it within minutes (`CounterDesk.pending_callbacks`)."""
        try:
            self.outbox.send(counter_id, abha_address, request_id)
        except Exception as lost:  # botocore's errors, a timeout: whatever it is, the sweeper sends it later
            reason = type(lost).__name__  # never its text: it may quote the message, which holds the ABHA address
            log.warning("on-share of a share at counter %s not queued (%s): the sweeper sends it", counter_id, reason)
            return False
        return True


def _fields(shared: SharedPatient, name: str, this_year: int) -> dict[str, object]:
    """The register's fields (the contract's names) the profile gives; those it does not give are left out."""
    found: dict[str, object] = {
        "name": name,
        "sex": None if (sex := abdm.sex_of(shared.gender)) is None else sex.value,
        "yearOfBirth": abdm.year_of_birth(shared.year_of_birth, this_year),
        "phone": abdm.phone_of(shared.phone_number),
    }
    return {field: value for field, value in found.items() if value is not None}


def _address_line(address: SharedAddress) -> str | None:
    return abdm.address_of(address.line, address.district, address.state, address.pincode)
