"""Reading slots and bookings: one query each, no lock, nothing written.

Functions over the slot repository (and the settings and clock they need, passed in), shared by
the write path, the rescheduler and the `Allocator`'s own reads.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time

from opd import domain
from opd.domain import Booking, Slot
from opd.errors import NotFound, ValidationFailed
from opd.ports import SlotRepository
from opd.service.reports import BookingsPage
from opd.settings import Settings

# A patient's bookings (GET /patients/{id}/bookings): from `from` to `to`, both clinic days included.
BOOKINGS_DEFAULT_DAYS = 30  # `to` left out: this many days after `from` (itself today when left out)
BOOKINGS_MAX_DAYS = 92  # `to` at most this many days after `from`
BOOKINGS_PAGE = 100  # bookings in one answer at most; its `next` continues after the last of them
# Slots one page reads at most. Each holds a booking of the patient, and all but the first one more than the
# cursor already gave (the first may be the slot the previous page stopped in, with none of theirs left), so
# reading fewer than this many means the page saw everything there is, and reading this many means it has
# more bookings than it can answer: either way it knows whether there is a next page, with no second query.
BOOKINGS_PAGE_SLOTS = BOOKINGS_PAGE + 2
# A cursor (`next`, sent back as `after=`): url-safe base64, no padding, of the last booking answered as
# "<slot start in UTC> <doctor id> <booking id>"; 32 + 64 + 64 characters and two spaces at most, so 216.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
CURSOR_MAX_LENGTH = 256
NOT_A_CURSOR = "must be the `next` of an earlier answer, as it was given"


@dataclass(frozen=True)
class ListingPosition:
    """Where a page of a patient's bookings stopped: at this booking, in the slot of this doctor and start.

    The listing's order is (slot start, doctor id, booking id): a doctor has one slot per start instant, and a
    booking's id never changes, also when it leaves its slot for the archive, so the order is total and stays.
    """

    start: datetime
    doctor_id: str
    booking_id: str

    @classmethod
    def of(cls, slot: Slot, booking: Booking) -> ListingPosition:
        return cls(slot.start.astimezone(UTC), slot.doctor_id, booking.booking_id)

    def cursor(self) -> str:
        text = f"{self.start.astimezone(UTC).isoformat(timespec='microseconds')} {self.doctor_id} {self.booking_id}"
        return base64.urlsafe_b64encode(text.encode("ascii")).decode("ascii").rstrip("=")

    @classmethod
    def of_cursor(cls, cursor: str) -> ListingPosition:
        """The position a cursor of `cursor()` names; anything else (cut, changed, made up) is a 400 naming `after`."""
        position = None
        if len(cursor) <= CURSOR_MAX_LENGTH and re.fullmatch(CURSOR_PATTERN, cursor):
            position = _decoded(cursor)
        if position is None or position.cursor() != cursor:  # only the text `cursor()` writes, byte for byte
            raise ValidationFailed.field("after", NOT_A_CURSOR)
        return position

    @property
    def key(self) -> tuple[datetime, str, str]:
        return self.start, self.doctor_id, self.booking_id


def _decoded(cursor: str) -> ListingPosition | None:
    try:
        start, doctor_id, booking_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split(" ")
        position = ListingPosition(datetime.fromisoformat(start), doctor_id, booking_id)
    except ValueError:  # not base64, not UTF-8, not three parts, not a time
        return None
    ids_valid = all(domain.ID_PATTERN.fullmatch(i) for i in (doctor_id, booking_id))
    named = domain.slot_id_of_booking(booking_id) is not None
    in_utc = position.start.utcoffset() == timedelta(0)  # as written; another offset could not even be converted
    return position if ids_valid and named and in_utc else None


def get_slot(store: SlotRepository, slot_id: str) -> Slot:
    slot = store.get(slot_id)
    if slot is None:
        raise NotFound(f"no slot {slot_id}")
    return slot


def find_booking(store: SlotRepository, booking_id: str) -> tuple[Slot, Booking]:
    """The booking and its slot, read by the slot id its booking id names: one read by primary key, and
    one more in the archive for a booking that is not in its slot (finished, it may have left it)."""
    slot_id = domain.slot_id_of_booking(booking_id)
    slot = store.get(slot_id) if slot_id else None
    booking = slot.booking(booking_id) if slot else None
    if slot is not None and booking is None:
        booking = store.archive.get(booking_id)
    if slot is None or booking is None:
        raise NotFound(f"no booking {booking_id}")
    return slot, booking


def booking_of_status_code(store: SlotRepository, code: str) -> tuple[Slot, Booking]:
    """The booking whose status link has `code`, and its slot; for a rescheduled booking, the booking that replaced
    it (followed at most domain.MAX_STATUS_HOPS times). One indexed query on the slots, one more on the archive for a
    code no slot holds (and then its slot by primary key), and one or two reads by primary key per reschedule.

    NotFound for a code no booking has; its message never quotes the code (a refusal's message is logged)."""
    domain.require_status_code(code)
    slot = store.slot_with_status_code(code)
    booking = domain.with_status_code(slot.bookings, code) if slot is not None else None
    if booking is None:  # not in a slot: finished, it may have left it for the archive
        booking = store.archive.with_status_code(code)
        slot = store.get(booking.slot_id) if booking is not None else None
    if slot is None or booking is None:
        raise NotFound("no booking has this status code")
    for _ in range(domain.MAX_STATUS_HOPS):
        if (replacement := domain.replaced_by(booking)) is None:
            break
        try:
            slot, booking = find_booking(store, replacement)
        except NotFound:  # never so (the old booking is cancelled once the new one is written): show the old one
            break
    return slot, booking


def archived_of_patient(store: SlotRepository, slot: Slot, patient_id: str) -> tuple[Booking, ...]:
    """The patient's bookings of `slot` that went to the archive: one indexed query, and only if the slot's
    filter says there may be some (`domain.may_have_archived`), so nearly every booking costs nothing more."""
    if not domain.may_have_archived(slot, patient_id):
        return ()
    return tuple(store.archive.of_patient(slot.slot_id, patient_id))


def doctor_slots(store: SlotRepository, settings: Settings, doctor_id: str, day: date) -> list[Slot]:
    """The doctor's slots starting on `day` in the clinic's time zone, by start."""
    domain.require_id("doctorId", doctor_id)
    midnight = datetime.combine(day, clock_time(), tzinfo=settings.clinic_zone)
    next_midnight = datetime.combine(day + timedelta(days=1), clock_time(), tzinfo=settings.clinic_zone)
    return store.doctor_slots(doctor_id, midnight, next_midnight)


def patient_bookings(
    store: SlotRepository,
    settings: Settings,
    clock: Callable[[], datetime],
    patient_id: str,
    first_day: date | None = None,
    last_day: date | None = None,
    after: str | None = None,
) -> BookingsPage:
    """A page of the patient's bookings, in every state, in the slots starting from `first_day` to `last_day`
    (clinic days, both included; default today and 30 days on), each answered with its standing: at most
    BOOKINGS_PAGE of them, in the order of ListingPosition, the first after the cursor `after` if given.

    One indexed query (SlotStore.patient_slots) of at most BOOKINGS_PAGE_SLOTS slots, and no lock. A cursor is
    a position in the order, whatever days it was given with: used with other days, the listing goes on after
    that position within those days (a position before them lists from their start, one after them nothing).
    A position inside the days must be one of the patient's bookings, in its slot, or the cursor is refused.
    """
    domain.require_id("patientId", patient_id)
    now = clock()
    opens, closes = _listing_window(settings, now, first_day, last_day)
    position = ListingPosition.of_cursor(after) if after is not None else None
    if position is not None and position.start >= closes:
        return BookingsPage([], None)
    if position is not None and position.start < opens:
        position = None  # the whole window comes after it
    from_slot = (position.start, position.doctor_id) if position else None
    slots = store.patient_slots(patient_id, opens, closes, BOOKINGS_PAGE_SLOTS, from_slot)
    archived = store.archive.patient_bookings(
        patient_id, opens, closes, BOOKINGS_PAGE_SLOTS, position.key if position else None
    )
    theirs = _after(position, _listing(patient_id, now, slots, archived))
    page = theirs[:BOOKINGS_PAGE]
    following = page[-1][0].cursor() if len(theirs) > len(page) else None
    return BookingsPage([booking for _, booking in page], following)


def _listing(
    patient_id: str, now: datetime, slots: list[Slot], archived: list[tuple[datetime, Booking]]
) -> list[tuple[ListingPosition, Booking]]:
    """The patient's bookings in the slots read and those read from the archive, answered, in the listing's order.

    A booking archived a moment ago may be in both (its slot's write had not been made): it is listed once.
    Each source was read in the listing's order up to BOOKINGS_PAGE_SLOTS, so either gives more than a page
    after the cursor or all it has: the first page of the two merged is right, and whether more follow is known.
    """
    listed: dict[str, tuple[ListingPosition, Booking]] = {}
    for slot in slots:
        for booking in domain.answered_all(slot, [b for b in slot.bookings if b.patient_id == patient_id], now):
            listed[booking.booking_id] = (ListingPosition.of(slot, booking), booking)
    for start, booking in archived:  # finished: no standing, no waitlist place, answered as they are
        listed.setdefault(booking.booking_id, (ListingPosition(start, booking.doctor_id, booking.booking_id), booking))
    return sorted(listed.values(), key=lambda listing: listing[0].key)


def _listing_window(
    settings: Settings, now: datetime, first_day: date | None, last_day: date | None
) -> tuple[datetime, datetime]:
    """The instants the listing's days open and close, [opens, closes), once `to` is checked against `from`."""
    zone = settings.clinic_zone
    first = first_day or now.astimezone(zone).date()
    last = last_day or first + timedelta(days=BOOKINGS_DEFAULT_DAYS)
    if last < first:
        raise ValidationFailed.field("to", f"must not be before from ({first})")
    if (last - first).days > BOOKINGS_MAX_DAYS:
        raise ValidationFailed.field("to", f"must be at most {BOOKINGS_MAX_DAYS} days after from ({first})")
    opens = datetime.combine(first, clock_time(), tzinfo=zone)
    return opens, datetime.combine(last + timedelta(days=1), clock_time(), tzinfo=zone)


def _after(
    position: ListingPosition | None, listing: list[tuple[ListingPosition, Booking]]
) -> list[tuple[ListingPosition, Booking]]:
    """The bookings of `listing` (in order, from `position` on) that come after `position`.

    `position` is inside the listing's days here, so its booking was read, first (the patient's bookings stay
    theirs for good, in their slot or the archive): anything else is a cursor this listing did not give.
    """
    if position is None:
        return listing
    # The slot of `position` was read whole: its bookings before the position's are left out here.
    rest = [listed for listed in listing if listed[0].key >= position.key]
    if rest and rest[0][0] == position:
        return rest[1:]
    raise ValidationFailed.field("after", NOT_A_CURSOR)
