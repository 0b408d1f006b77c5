"""The contract's Booking and Slot, written once: what an answer carries and what an event's detail carries.

Pydantic models, camelCase, times in UTC ending in `Z` with at most milliseconds (what MongoDB
keeps, so a booking reads back as it was answered). The HTTP handlers answer them (`opd.api.models`
wraps them in the routes' envelopes) and the events' details are rendered from them
(`opd.eventbridge`), so an answer and an event can never describe a booking differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel

from opd.domain import (
    Booking,
    CancelReason,
    Language,
    Slot,
    SlotSnapshot,
    Source,
    Status,
    Tier,
    slot_snapshot,
    tier_limits,
)


def iso_utc(value: datetime) -> str:
    """UTC, `Z`, at most milliseconds: what MongoDB keeps, so a booking reads back as it was answered."""
    utc = value.astimezone(UTC)
    return utc.isoformat(timespec="seconds" if utc.microsecond == 0 else "milliseconds").replace("+00:00", "Z")


UtcTime = Annotated[AwareDatetime, PlainSerializer(iso_utc, return_type=str)]
NO_NAMES: Mapping[str, str] = MappingProxyType({})  # an event's booking: no patient's name leaves for the bus


# defer_build: a model's validator and serializer are built at its first use, not at import, so a
# handler builds only the few models of its own route (~1 ms each), not every model there is.
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

    def as_json(self) -> dict[str, Any]:
        """The JSON object the contract shows."""
        return self.model_dump(mode="json")


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
    def of(cls, slot: Slot, delay_reduction_percent: int, as_left: SlotSnapshot | None = None) -> SlotOut:
        """The slot as it is, or as an event left it (`as_left`: capacity and times never change, the rest may)."""
        state = as_left or slot_snapshot(slot)
        limits = tier_limits(slot.capacity, state.delayed, delay_reduction_percent)
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
            delayed=state.delayed,
            delay_minutes=state.delay_minutes,
            closed=state.closed,
            limits=limits,
            booked=state.booked,
            available={tier: max(0, limit - state.booked) for tier, limit in limits.items()},
            waitlisted=state.waitlisted,
        )


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
    phone: str | None  # only its owner and staff are ever answered a booking, and only they are sent SMS
    patient_name: str | None  # from the patient register, read as the answer is made: null if unregistered
    # The language of its SMS (contract, "Languages"); null on a booking made before bookings had one
    language: Language | None
    # Its status link's key: owner and staff only, like the phone (an event carries it too: the SMS link)
    status_code: str | None
    history: list[ChangeOut]

    @classmethod
    def of(cls, booking: Booking, names: Mapping[str, str] = NO_NAMES) -> BookingOut:
        """`booking` as the service answered it: with its standing (position, estimate), null out of the queue,
        and its patient's name where `names` (patient id to name, `opd.api.answers`) has it."""
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
            patient_name=names.get(booking.patient_id),
            language=booking.language,
            status_code=booking.status_code,
            history=[ChangeOut(status=c.status, at=c.at, by=c.by) for c in booking.history],
        )
