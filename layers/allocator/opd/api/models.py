"""Request shapes of the public HTTP contract, and the routes' answers around its Booking and Slot.

Requests are strict about what they accept (unknown fields, ids outside the pattern, times without
an offset are all 400s); responses are camelCase with times in UTC ending in `Z`. The Booking and
the Slot themselves are `opd.contract`'s, which the events' details use too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from datetime import time as clock_time
from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.params import Header, Path
from aws_lambda_powertools.event_handler.openapi.params import Query as Query  # noqa: PLC0414 (re-exported: the handlers import it from here)
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from opd import domain
from opd.contract import NO_NAMES, BookingOut, ResponseModel, SlotOut, UtcTime
from opd.domain import (
    ID_PATTERN,
    MAX_CAPACITY,
    MAX_DELAY_MINUTES,
    PHONE_PATTERN,
    SLOT_MINUTES,
    STATUS_CODE_PATTERN,
    WEEKDAYS,
    Booking,
    BookingStatus,
    Capacity,
    Doctor,
    Language,
    SessionPlan,
    Slot,
    Source,
    Status,
)
from opd.settings import Settings

if TYPE_CHECKING:
    from opd.service import LeaveTaken, SessionsOpened


# ISO 8601 (RFC 3339) as the contract writes it: a date, `T`, a time with optional seconds and fraction, an offset.
_ISO_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CLOCK = r"([01][0-9]|2[0-3]):[0-5][0-9]"  # HH:MM, 00:00 to 23:59: no seconds, no offset
_CLOCK_TIME = re.compile(_CLOCK)


def _time_text(value: Any) -> Any:
    # pydantic alone would also take a number, or numeric text ("1930000000"), as seconds since 1970.
    if not isinstance(value, str) or not _ISO_TIME.fullmatch(value):
        raise PydanticCustomError("time_text", "must be ISO 8601 text with an offset, e.g. 2026-11-21T09:00:00+05:30")
    return value


def _representable(value: datetime) -> datetime:
    # Year 1 at +05:30 is year 0 in UTC: out of datetime's range for every later comparison or write.
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError("time_range", "is out of range") from None
    return value


def _date_text(value: Any) -> Any:
    # pydantic alone would also take a time of day ("2031-03-03T00:00") or seconds since 1970.
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise PydanticCustomError("date_text", "must be a date written YYYY-MM-DD, e.g. 2026-11-21")
    return value


def _clock_text(value: Any) -> Any:
    # pydantic alone would also take seconds, an offset ("09:00Z"), "9:00" or seconds since midnight.
    if not isinstance(value, str) or not _CLOCK_TIME.fullmatch(value):
        raise PydanticCustomError("clock_text", "must be a clock time written HH:MM, 00:00 to 23:59, e.g. 09:00")
    return value


Id = Annotated[str, Field(pattern=ID_PATTERN.pattern, strict=True)]
# E.164: "+", a country code, the number; at most 15 digits. Where the booking's SMS go.
Phone = Annotated[str, Field(pattern=PHONE_PATTERN.pattern, strict=True, examples=["+919876543210"])]
RequestTime = Annotated[AwareDatetime, BeforeValidator(_time_text), AfterValidator(_representable)]
# A day in a query (`?date=`); its range against today is the handler's check (opd.api.bounds).
RequestDate = Annotated[date, BeforeValidator(_date_text)]
# A wall-clock time of the clinic's day (sessions); which instant it is, is the domain's (opd.domain.session_times).
ClockTime = Annotated[
    clock_time,
    BeforeValidator(_clock_text),
    WithJsonSchema({"type": "string", "pattern": f"^{_CLOCK}$", "examples": ["09:00"]}),
]
Weekday = Literal["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]  # opd.domain.WEEKDAYS, in its order
MAX_LEAVE_REASON = 200  # characters; only logged (the answer does not carry it)

# Path parameters are named as in the contract (`{slotId}`), so a 400 names the same field.
SlotIdPath = Annotated[str, Path(pattern=ID_PATTERN.pattern)]
BookingIdPath = Annotated[str, Path(pattern=ID_PATTERN.pattern)]
DoctorIdPath = Annotated[str, Path(pattern=ID_PATTERN.pattern)]
PatientIdPath = Annotated[str, Path(pattern=ID_PATTERN.pattern)]
# A booking's status code (GET /status/{code}): one outside the pattern is a 400 naming `code`, an unknown one a 404.
StatusCodePath = Annotated[str, Path(pattern=STATUS_CODE_PATTERN.pattern)]
# Optional on POST /bookings: printable text without spaces, as clients send UUIDs or similar.
IdempotencyKeyHeader = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")
]


# defer_build, as for the answers (opd.contract.ResponseModel): each model is built at its first use.
class RequestModel(BaseModel):
    model_config = ConfigDict(
        defer_build=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,  # `doctor_id` is an unknown field, not another spelling of `doctorId`
        extra="forbid",
        frozen=True,
    )


# -- requests ---------------------------------------------------------------------------------


class CapacityRequest(RequestModel):
    """A request that gives a slot's capacity: each part here, their sum in the domain (`Capacity`)."""

    base_capacity: Annotated[int, Field(strict=True, ge=1, le=MAX_CAPACITY)] = Capacity.base
    premium_buffer: Annotated[int, Field(strict=True, ge=0, le=MAX_CAPACITY)] = Capacity.premium_buffer
    emergency_buffer: Annotated[int, Field(strict=True, ge=0, le=MAX_CAPACITY)] = Capacity.emergency_buffer

    def capacity(self) -> Capacity:
        """The capacity asked for; ValidationFailed when the parts add up to more than a slot may have."""
        return Capacity(self.base_capacity, self.premium_buffer, self.emergency_buffer)


class CreateSlotRequest(CapacityRequest):
    doctor_id: Id
    start: RequestTime
    end: RequestTime

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and end <= start:
            raise PydanticCustomError("end_not_after_start", "must be after start")
        return end


class SetDelayRequest(RequestModel):
    delayed: Annotated[bool, Field(strict=True)]
    minutes: Annotated[int, Field(strict=True, ge=0, le=MAX_DELAY_MINUTES)] | None = None


class CreateBookingRequest(RequestModel):
    slot_id: Id
    patient_id: Id
    source: Source
    # A full tier then puts the patient on the slot's waitlist (WAITLISTED, no token) instead of SLOT_FULL.
    waitlist: Annotated[bool, Field(strict=True)] = False
    phone: Phone | None = None
    # The language of the booking's SMS; left out: its patient's in the register, else DEFAULT_LANGUAGE.
    language: Language | None = None


class OpenSessionsRequest(CapacityRequest):
    """A doctor's recurring session: from `from` to `to` (both included, at most 92 days apart) on each of
    `weekdays` (default: every day), a slot every `slotMinutes` from `start` to `end`. Dates and clock times
    are the clinic's time zone's; at most 500 slots a request."""

    # `from` is a Python word: the fields are `first` and `last` here, read by their aliases only (like every field).
    first: Annotated[RequestDate, Field(alias="from")]
    last: Annotated[RequestDate, Field(alias="to")]
    weekdays: (
        Annotated[list[Weekday], Field(min_length=1, max_length=len(WEEKDAYS), json_schema_extra={"uniqueItems": True})]
        | None
    ) = None  # None: every day
    start: ClockTime
    end: ClockTime
    slot_minutes: Annotated[int, Field(strict=True, ge=SLOT_MINUTES[0], le=SLOT_MINUTES[1])]

    @field_validator("weekdays")
    @classmethod
    def _each_day_once(cls, weekdays: list[str] | None) -> list[str] | None:
        # Refused rather than read as a set: a day named twice is a client's mistake, never a wish.
        if weekdays is not None and len(set(weekdays)) != len(weekdays):
            raise PydanticCustomError("weekday_repeated", "must name each day at most once")
        return weekdays

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: clock_time, info: ValidationInfo) -> clock_time:
        start = info.data.get("start")
        if start is not None and end <= start:
            raise PydanticCustomError("end_not_after_start", "must be after start (a session ends on its own day)")
        return end

    def plan(self) -> SessionPlan:
        """The session in the domain's terms; ValidationFailed for what only the whole tells (`to`, capacity)."""
        days = WEEKDAYS if self.weekdays is None else self.weekdays
        return SessionPlan(
            first=self.first,
            last=self.last,
            weekdays=frozenset(WEEKDAYS.index(day) for day in days),
            opens=self.start,
            closes=self.end,
            slot_minutes=self.slot_minutes,
            capacity=self.capacity(),
        )


class TakeLeaveRequest(RequestModel):
    day: Annotated[RequestDate, Field(alias="date")]  # `date` is the type's name here
    reason: Annotated[str, Field(strict=True, min_length=1, max_length=MAX_LEAVE_REASON)] | None = None


class RescheduleRequest(RequestModel):
    slot_id: Id  # the slot to reschedule to


# -- responses --------------------------------------------------------------------------------


class SlotListOut(ResponseModel):
    slots: list[SlotOut]


class QueueOut(ResponseModel):
    slot_id: str
    queue: list[BookingOut]


class WaitlistOut(ResponseModel):
    """GET /slots/{slotId}/waitlist: the WAITLISTED bookings in the order they joined."""

    slot_id: str
    waitlist: list[BookingOut]


class PatientBookingsOut(ResponseModel):
    """GET /patients/{patientId}/bookings: a page of the patient's bookings in every state, by slot start."""

    bookings: list[BookingOut] = Field(description="at most 100, by slot start (then doctor, then booking order)")
    next: str | None = Field(
        description="an opaque cursor: send it back as `after` (with the same `from` and `to`) for the bookings "
        "that follow; null on the last page"
    )


class CallNextOut(ResponseModel):
    """POST /slots/{slotId}/call-next: who left the room and who is called in, each null when nobody."""

    slot_id: str
    completed: BookingOut | None
    called: BookingOut | None

    @classmethod
    def of(
        cls, slot_id: str, completed: Booking | None, called: Booking | None, names: Mapping[str, str] = NO_NAMES
    ) -> CallNextOut:
        return cls(
            slot_id=slot_id,
            completed=None if completed is None else BookingOut.of(completed, names),
            called=None if called is None else BookingOut.of(called, names),
        )


class BoardSlotOut(ResponseModel):
    """What a waiting-room screen shows of one slot: its times and notices, and token numbers only."""

    slot_id: str
    start: UtcTime
    end: UtcTime
    delayed: bool
    delay_minutes: int
    closed: bool
    calling: int | None  # the token in the doctor's room
    next: list[int]  # up to 5 CHECKED_IN tokens, in call order
    waiting: int  # every CHECKED_IN booking

    @classmethod
    def of(cls, slot: Slot) -> BoardSlotOut:
        line = domain.board_line(slot)
        return cls(
            slot_id=slot.slot_id,
            start=slot.start,
            end=slot.end,
            delayed=slot.delayed,
            delay_minutes=slot.delay_minutes,
            closed=slot.closed,
            calling=line.calling,
            next=list(line.next),
            waiting=line.waiting,
        )


class BoardOut(ResponseModel):
    """GET /boards/{doctorId}: public, so it names no patient and carries no phone: tokens and counts only."""

    doctor_id: str
    doctor_name: str  # the directory's name; the id itself for a doctor with slots but no record
    room: str | None
    day: date = Field(alias="date")  # `date` is the type's name here; constructed as `date=`
    slots: list[BoardSlotOut]

    @classmethod
    def of(cls, doctor_id: str, day: date, slots: list[Slot], doctor: Doctor | None) -> BoardOut:
        return cls(
            doctor_id=doctor_id,
            doctor_name=doctor_id if doctor is None else doctor.name,
            room=None if doctor is None else doctor.room,
            date=day,
            slots=[BoardSlotOut.of(slot) for slot in slots],
        )


class StatusOut(ResponseModel):
    """GET /status/{code} (public): one booking's Status, by its status link. Its token, state and place, and its
    slot's: nothing that names or reaches the patient (no patient id, name or phone, no booking id or code)."""

    token: int | None
    status: Status
    doctor_name: str  # the directory's name; the id itself for a doctor with slots but no record
    room: str | None
    start: UtcTime
    end: UtcTime
    delayed: bool
    delay_minutes: int
    closed: bool
    position: int | None  # bookings ahead in call order (the CALLED one included); 0 when CALLED
    estimated_call_at: UtcTime | None
    waitlist_position: int | None
    calling: int | None  # the token in the doctor's room

    @classmethod
    def of(cls, status: BookingStatus, doctor: Doctor | None) -> StatusOut:
        return cls(
            token=status.token,
            status=status.status,
            doctor_name=status.doctor_id if doctor is None else doctor.name,
            room=None if doctor is None else doctor.room,
            start=status.start,
            end=status.end,
            delayed=status.delayed,
            delay_minutes=status.delay_minutes,
            closed=status.closed,
            position=status.position,
            estimated_call_at=status.estimated_call_at,
            waitlist_position=status.waitlist_position,
            calling=status.calling,
        )


class SessionsOut(ResponseModel):
    """POST /doctors/{doctorId}/sessions: the slots made now, and the ids of those that were there already."""

    created: list[SlotOut]
    existing: list[str]

    @classmethod
    def of(cls, opened: SessionsOpened, settings: Settings) -> SessionsOut:
        return cls(
            created=[SlotOut.of(slot, settings.delay_reduction_percent) for slot in opened.created],
            existing=list(opened.existing),
        )


class LeaveOut(ResponseModel):
    """POST /doctors/{doctorId}/leave: the doctor's slots that day (all closed now) and what this request cancelled."""

    slots: int
    cancelled: list[BookingOut]

    @classmethod
    def of(cls, taken: LeaveTaken, names: Mapping[str, str] = NO_NAMES) -> LeaveOut:
        return cls(slots=taken.slots, cancelled=[BookingOut.of(booking, names) for booking in taken.cancelled])


class HealthOut(ResponseModel):
    status: str
    redis: str
    mongo: str


def all_models() -> list[type[BaseModel]]:
    """Every request and response model, each built at its first use (defer_build): a SnapStart
    snapshot builds them all beforehand (opd.api.snapstart.prime)."""
    found: list[type[BaseModel]] = []
    pending: list[type[BaseModel]] = [RequestModel, ResponseModel]
    while pending:
        model = pending.pop()
        found.append(model)
        pending.extend(model.__subclasses__())
    return found
