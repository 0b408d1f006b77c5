"""Finished bookings leave the slot: which may go, and the slot's memory of whose went.

A booking that holds no place and never will again (CANCELLED, whatever the reason: a patient's or
staff's cancel, a leave, a reschedule away, a waitlist that expired; NO_SHOW) is only history. Once
no event waiting in the outbox needs it (its own, or a delay's SMS recipients), a write moves it to
the archive (`opd.archive`), so a slot's document holds what the slot must: the places held, the
waitlist, and what is still to be told. That is what keeps a free place bookable however many
patients join and leave (the red team's 150 cancelled waitlist entries made a slot unbookable).

Writes move them in batches of ARCHIVE_AT, so nearly every change stays one write. The slot keeps a
Bloom filter of the patients whose bookings went (`archived_patients`): the 3-rebook rule asks the
archive only for a patient the filter may have seen, so a booking by anyone else costs nothing more.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import replace

from opd.domain.model import Booking, Slot
from opd.domain.states import Status

FINISHED = frozenset({Status.CANCELLED, Status.NO_SHOW})  # final and holding no place: COMPLETED holds its place
ARCHIVE_AT = 10  # finished bookings a slot keeps before a write moves them all out (one insert for ten)
# The filter: 4,096 bits (512 bytes, 684 base64 characters in the document), 4 hashes. Wrong "maybe"
# answers, each costing one indexed query: 1 in 1,000 bookings after 200 patients' bookings went, 1 in
# 7 after 1,000 (a slot churned on purpose); a "no" is always right.
FILTER_BITS = 4096
FILTER_HASHES = 4


def archivable(slot: Slot) -> list[Booking]:
    """The finished bookings no event in the outbox still needs, in the slot's order."""
    needed = {e.booking_id for e in slot.outbox} | {r for e in slot.outbox for r in e.slot.recipients}
    return [b for b in slot.bookings if b.status in FINISHED and b.booking_id not in needed]


def due_for_archive(slot: Slot) -> list[Booking]:
    """What a write of `slot` moves to the archive: its archivable bookings once they are ARCHIVE_AT."""
    finished = archivable(slot)
    return finished if len(finished) >= ARCHIVE_AT else []


def without_archived(slot: Slot, archived: Iterable[Booking]) -> Slot:
    """`slot` with `archived` gone from its bookings, and their patients added to its filter."""
    gone = {b.booking_id: b.patient_id for b in archived}
    bits = bytearray(_bits(slot))
    for patient_id in gone.values():
        for index in _indexes(patient_id):
            bits[index // 8] |= 1 << (index % 8)
    return replace(
        slot,
        bookings=tuple(b for b in slot.bookings if b.booking_id not in gone),
        archived_patients=base64.b64encode(bytes(bits)).decode("ascii"),
    )


def may_have_archived(slot: Slot, patient_id: str) -> bool:
    """False only if none of the patient's bookings in this slot went to the archive."""
    if not slot.archived_patients:
        return False
    bits = _bits(slot)
    return all(bits[index // 8] & (1 << (index % 8)) for index in _indexes(patient_id))


def _bits(slot: Slot) -> bytes:
    return base64.b64decode(slot.archived_patients) if slot.archived_patients else bytes(FILTER_BITS // 8)


def _indexes(patient_id: str) -> list[int]:
    digest = hashlib.blake2b(patient_id.encode(), digest_size=2 * FILTER_HASHES).digest()
    return [int.from_bytes(digest[2 * n : 2 * n + 2], "big") % FILTER_BITS for n in range(FILTER_HASHES)]
