"""The Allocator and its parts: a clock or settings set on the allocator is what every part goes by."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opd.domain import Source
from opd.service import Allocator
from opd.settings import Settings
from tests.unit.fakes import FakeSlotLock, FakeSlotStore

START = datetime(2030, 1, 7, 3, 30, tzinfo=UTC)  # 09:00 in the clinic (Asia/Kolkata)
END = START + timedelta(hours=1)
NOW = datetime(2030, 1, 6, 12, 0, tzinfo=UTC)  # the day before
LATER = NOW + timedelta(hours=2)


def test_a_clock_set_on_the_allocator_is_the_one_its_writer_and_rescheduler_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    allocator = Allocator(FakeSlotStore(), FakeSlotLock(), Settings(), clock=lambda: NOW)
    slot = allocator.create_slot("dr-rao", START, END)
    target = allocator.create_slot("dr-rao", END, END + timedelta(hours=1))
    booking = allocator.book(slot.slot_id, "asha", Source.ONLINE)
    monkeypatch.setattr(allocator, "clock", lambda: LATER)
    moved = allocator.reschedule(booking.booking_id, target.slot_id)
    assert moved.created_at == LATER  # the rescheduler's clock
    written = allocator.store.slots[target.slot_id].outbox
    assert [e.occurred_at for e in written if e.booking_id == moved.booking_id] == [LATER]  # the writer's
    monkeypatch.undo()
    assert allocator.clock() == allocator.writer.clock() == allocator.rescheduler.clock() == NOW


def test_settings_set_on_the_allocator_reach_every_part() -> None:
    allocator = Allocator(FakeSlotStore(), FakeSlotLock(), Settings())
    allocator.settings = Settings(write_attempts=5)
    parts = (allocator.writer, allocator.relay, allocator.rescheduler, allocator.sweeper)
    assert all(part.settings is allocator.settings for part in parts)
