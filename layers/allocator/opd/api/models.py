"""Request and response shapes of the public HTTP contract.

Requests are strict about what they accept (unknown fields, ids outside the pattern, times without
an offset are all 400s); responses are camelCase with times in UTC ending in `Z`.
"""

from __future__ import annotations

import re
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
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from opd import domain
from opd.domain import (
    ID_PATTERN,
    MAX_CAPACITY,
    MAX_DELAY_MINUTES,
    PHONE_PATTERN,
    SLOT_MINUTES,
    WEEKDAYS,
    Booking,
    CancelReason,
    Capacity,
    SessionPlan,
    Slot,
    Source,
    Status,
    Tier,
)
from opd.settings import Settings

if TYPE_CHECKING:
    from opd.service import LeaveTaken, SessionsOpened


def iso_utc(value: datetime) -> str:
    """UTC, `Z`, at most milliseconds: what MongoDB keeps, so a booking reads back as it was answered."""
    utc = value.astimezone(UTC)
    return utc.isoformat(timespec="seconds" if utc.microsecond == 0 else "milliseconds").replace("+00:00", "Z")


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
UtcTime = Annotated[AwareDatetime, PlainSerializer(iso_utc, return_type=str)]

# Path parameters are named as in the contract (`{slotId}`), so a 400 names the same field.
SlotIdPath = Annotated[str, Path(pattern=ID_PATTERN.pattern)]
BookingIdPath = Annotated[str, Path(pattern=ID_PATTERN.pattern)]
DoctorIdPath = Annotated[str, Path(pattern=ID_PATTERN.pattern)]
PatientIdPath = Annotated[str, Path(pattern=ID_PATTERN.pattern)]
# Optional on POST /bookings: printable text without spaces, as clients send UUIDs or similar.
IdempotencyKeyHeader = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")
]


# defer_build: a model's validator and serializer are built at its first use, not at import, so a
# handler builds only the few models of its own route (~1 ms each), not all of this module's.
class RequestModel(BaseModel):
    model_config = ConfigDict(
        defer_build=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,  # `doctor_id` is an unknown field, not another spelling of `doctorId`
        extra="forbid",
        frozen=True,
    )


class ResponseModel(BaseModel):
    # Built by field name in code, read back by alias from a stored idempotent answer.
    model_config = ConfigDict(
        defer_build=True,
        alias_generator=to_camel,
        validate_by_name=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
    )


# -- requests ---------------------------------------------------------------------------------


class CreateSlotRequest(RequestModel):
    doctor_id: Id
    start: RequestTime
    end: RequestTime
    base_capacity: Annotated[int, Field(strict=True, ge=1, le=MAX_CAPACITY)] = Capacity.base
    premium_buffer: Annotated[int, Field(strict=True, ge=0, le=MAX_CAPACITY)] = Capacity.premium_buffer
    emergency_buffer: Annotated[int, Field(strict=True, ge=0, le=MAX_CAPACITY)] = Capacity.emergency_buffer

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


class OpenSessionsRequest(RequestModel):
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
    base_capacity: Annotated[int, Field(strict=True, ge=1, le=MAX_CAPACITY)] = Capacity.base
    premium_buffer: Annotated[int, Field(strict=True, ge=0, le=MAX_CAPACITY)] = Capacity.premium_buffer
    emergency_buffer: Annotated[int, Field(strict=True, ge=0, le=MAX_CAPACITY)] = Capacity.emergency_buffer

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
            capacity=Capacity(self.base_capacity, self.premium_buffer, self.emergency_buffer),
        )


class TakeLeaveRequest(RequestModel):
    day: Annotated[RequestDate, Field(alias="date")]  # `date` is the type's name here
    reason: Annotated[str, Field(strict=True, min_length=1, max_length=MAX_LEAVE_REASON)] | None = None


class RescheduleRequest(RequestModel):
    slot_id: Id  # the slot to move to


# -- responses --------------------------------------------------------------------------------


class CapacityOut(ResponseModel):
    base: int
    premium_buffer: int
    emergency_buffer: int


class SlotOut(ResponseModel):
    slot_id: str
    doctor_id: str
    start: UtcTime
    end: UtcTime
    capacity: CapacityOut
    delayed: bool
    delay_minutes: int
    closed: bool
    limits: dict[Tier, int]
    booked: int
    available: dict[Tier, int]
    waitlisted: int

    @classmethod
    def of(cls, slot: Slot, settings: Settings) -> SlotOut:
        reduction = settings.delay_reduction_percent
        return cls(
            slot_id=slot.slot_id,
            doctor_id=slot.doctor_id,
            start=slot.start,
            end=slot.end,
            capacity=CapacityOut(
                base=slot.capacity.base,
                premium_buffer=slot.capacity.premium_buffer,
                emergency_buffer=slot.capacity.emergency_buffer,
            ),
            delayed=slot.delayed,
            delay_minutes=slot.delay_minutes,
            closed=slot.closed,
            limits=slot.limits(reduction),
            booked=slot.booked,
            available=slot.available(reduction),
            waitlisted=len(slot.waitlist),
        )


# The contract's reasons for a cancellation; the service records none yet (later issues do).


class ChangeOut(ResponseModel):
    """One line of a booking's history: what it became, when, and who made the change (a username or `system`)."""

    status: Status
    at: UtcTime
    by: str


class BookingOut(ResponseModel):
    """The contract's Booking: every field always present, null where it does not apply.

    Built from the domain's values, which are already what the fields say, so Powertools'
    validation of the answer is an isinstance check and the cost is one build and one dump.
    """

    booking_id: str
    slot_id: str
    doctor_id: str
    patient_id: str
    source: Source
    tier: Tier
    token: int | None
    status: Status
    created_at: UtcTime
    updated_at: UtcTime
    position: int | None  # bookings ahead in call order (the CALLED one included); 0 when CALLED
    estimated_call_at: UtcTime | None
    waitlist_position: int | None
    called_at: UtcTime | None
    completed_at: UtcTime | None
    skips: int
    cancel_reason: CancelReason | None
    rescheduled_from: str | None
    rescheduled_to: str | None
    phone: str | None  # only its owner and staff are ever answered a booking
    history: list[ChangeOut]

    @classmethod
    def of(cls, booking: Booking) -> BookingOut:
        """`booking` as the service answered it: with its standing (position, estimate), null out of the queue."""
        standing = booking.standing
        return cls(
            booking_id=booking.booking_id,
            slot_id=booking.slot_id,
            doctor_id=booking.doctor_id,
            patient_id=booking.patient_id,
            source=booking.source,
            tier=booking.tier,
            token=booking.token,
            status=booking.status,
            created_at=booking.created_at,
            updated_at=booking.updated_at,
            position=None if standing is None else standing.position,
            estimated_call_at=None if standing is None else standing.estimated_call_at,
            waitlist_position=booking.waitlist_position,
            called_at=booking.called_at,
            completed_at=booking.completed_at,
            skips=booking.skips,
            cancel_reason=booking.cancel_reason,
            rescheduled_from=booking.rescheduled_from,
            rescheduled_to=booking.rescheduled_to,
            phone=booking.phone,
            history=[ChangeOut(status=c.status, at=c.at, by=c.by) for c in booking.history],
        )


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
    """GET /patients/{patientId}/bookings: the patient's bookings in every state, by slot start."""

    bookings: list[BookingOut]


class CallNextOut(ResponseModel):
    """POST /slots/{slotId}/call-next: who left the room and who is called in, each null when nobody."""

    slot_id: str
    completed: BookingOut | None
    called: BookingOut | None

    @classmethod
    def of(cls, slot_id: str, completed: Booking | None, called: Booking | None) -> CallNextOut:
        return cls(
            slot_id=slot_id,
            completed=None if completed is None else BookingOut.of(completed),
            called=None if called is None else BookingOut.of(called),
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
    day: date = Field(alias="date")  # `date` is the type's name here; constructed as `date=`
    slots: list[BoardSlotOut]

    @classmethod
    def of(cls, doctor_id: str, day: date, slots: list[Slot]) -> BoardOut:
        return cls(doctor_id=doctor_id, date=day, slots=[BoardSlotOut.of(slot) for slot in slots])


class SessionsOut(ResponseModel):
    """POST /doctors/{doctorId}/sessions: the slots made now, and the ids of those that were there already."""

    created: list[SlotOut]
    existing: list[str]

    @classmethod
    def of(cls, opened: SessionsOpened, settings: Settings) -> SessionsOut:
        return cls(created=[SlotOut.of(slot, settings) for slot in opened.created], existing=list(opened.existing))


class LeaveOut(ResponseModel):
    """POST /doctors/{doctorId}/leave: the doctor's slots that day (all closed now) and what this request cancelled."""

    slots: int
    cancelled: list[BookingOut]

    @classmethod
    def of(cls, taken: LeaveTaken) -> LeaveOut:
        return cls(slots=taken.slots, cancelled=[BookingOut.of(booking) for booking in taken.cancelled])


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
