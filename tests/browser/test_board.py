"""board.html in chromium: the waiting-room screen.

Its data is GET /boards/{doctorId}, public; a call comes from POST /slots/{id}/call-next, leave from
POST /doctors/{id}/leave. Tested two ways:
- against the real API: a call, a delay and a doctor's leave reach the screen within the contract's 5 s;
- the page's own behaviour (what it shows, marks, says and speaks) with a board served by the test itself
  (Playwright's routing), including leave.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.support import Clinic, patient, screenshot, slot_day

pytestmark = pytest.mark.xdist_group("browser")

# speechSynthesis stubbed before the page's scripts run: what the board speaks is kept in window.__spoken.
SPEECH_STUB = """
window.__spoken = [];
Object.defineProperty(window, "speechSynthesis", {
  configurable: true,
  value: {
    speak(utterance) { window.__spoken.push(utterance.text); },
    cancel() {}, pause() {}, resume() {}, getVoices() { return []; },
    speaking: false, pending: false, paused: false,
    addEventListener() {}, removeEventListener() {},
  },
});
if (typeof window.SpeechSynthesisUtterance !== "function") {
  window.SpeechSynthesisUtterance = class { constructor(text) { this.text = text; } };
}
"""


def open_board(page: Page, doctors: str, day: str, names: str = "") -> None:
    page.add_init_script(SPEECH_STUB)
    page.goto(f"/board.html?doctors={doctors}&date={day}" + (f"&names={names}" if names else ""))


def column(page: Page, doctor: str) -> Any:
    return page.locator(f'.doctor[data-doctor-id="{doctor}"]')


def spoken(page: Page) -> list[str]:
    said = page.evaluate("window.__spoken")
    assert isinstance(said, list)
    return [str(text) for text in said]


def expect_call_shown(page: Page, doctor: str, name: str, token: int, called_at: float) -> None:
    """The board shows `token` as called for `doctor` within 5 s of `called_at`, marked fresh, and says it."""
    col = column(page, doctor)
    expect(col.locator("[data-testid=calling-token]")).to_have_text(
        str(token), timeout=max(0, 5000 - int((time.monotonic() - called_at) * 1000))
    )
    expect(col.locator(".calling")).to_have_class(re.compile(r"(?=.*\bis-calling\b)(?=.*\bis-fresh\b)"))
    expect(page.locator("#announce")).to_have_text(f"{name}: now calling token {token}")
    assert f"Token {token}, please go to {name}'s room" in spoken(page)


# -- the page itself, with a board the test serves --------------------------------------------------------


def serve_boards(page: Page, boards: dict[str, dict[str, Any]]) -> None:
    """GET /boards/{doctorId} answered from `boards` (the test changes it between polls)."""

    def answer(route: Route) -> None:
        doctor = route.request.url.split("/boards/", 1)[1].split("?", 1)[0]
        if doctor in boards:
            route.fulfill(status=200, content_type="application/json", body=json.dumps(boards[doctor]))
        else:
            route.fulfill(status=404, content_type="application/json", body='{"error": {"code": "NOT_FOUND"}}')

    page.route(re.compile(r"/boards/"), answer)


def board_slot(now: datetime, **fields: Any) -> dict[str, Any]:
    slot = {
        "slotId": f"slot-{uuid.uuid4().hex[:8]}",
        "start": (now - timedelta(minutes=5)).isoformat(),
        "end": (now + timedelta(minutes=25)).isoformat(),
        "delayed": False,
        "delayMinutes": 0,
        "closed": False,
        "calling": None,
        "next": [],
        "waiting": 0,
    }
    return slot | fields


def test_the_board_shows_a_new_call_marks_it_says_it_and_shows_delay_and_leave(
    page: Page, tmp_path_factory: pytest.TempPathFactory
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    rao = board_slot(now, next=[3, 4], waiting=2)
    boards = {
        "dr-rao": {"doctorId": "dr-rao", "date": now.date().isoformat(), "slots": [rao]},
        "dr-iyer": {"doctorId": "dr-iyer", "date": now.date().isoformat(), "slots": [board_slot(now, closed=True)]},
    }
    serve_boards(page, boards)
    open_board(page, "dr-rao,dr-iyer", now.date().isoformat())

    rao_col, iyer_col = column(page, "dr-rao"), column(page, "dr-iyer")
    expect(page.locator("#conn")).to_have_attribute("data-state", "ok")
    expect(rao_col.locator(".doctor-name")).to_have_text("Dr Rao")
    expect(rao_col.locator("[data-testid=calling-token]")).to_have_text("—")
    expect(rao_col.locator("[data-testid=next-tokens] li")).to_have_text(["3", "4"])
    expect(rao_col.locator("[data-testid=waiting]")).to_have_text("2 waiting")
    expect(iyer_col).to_have_class(re.compile(r"\bis-leave\b"))
    expect(iyer_col.locator(".notice-leave")).to_have_text("Doctor on leave today")
    expect(iyer_col.locator(".calling")).to_be_hidden()
    assert spoken(page) == []  # the first load is never spoken

    rao |= {"calling": 3, "next": [4], "waiting": 1, "delayed": True, "delayMinutes": 15}
    expect_call_shown(page, "dr-rao", "Dr Rao", 3, called_at=time.monotonic())
    expect(rao_col.locator("[data-testid=next-tokens] li")).to_have_text(["4"])
    expect(rao_col.locator(".notice-delay")).to_have_text("Running 15 min late")
    assert spoken(page) == ["Token 3, please go to Dr Rao's room"]  # once, not at every poll
    screenshot(page, tmp_path_factory, "board-calling")


def test_the_board_keeps_the_screen_and_says_when_it_cannot_update(page: Page) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    boards = {"dr-rao": {"doctorId": "dr-rao", "date": now.date().isoformat(), "slots": [board_slot(now, calling=7)]}}
    serve_boards(page, boards)
    open_board(page, "dr-rao", now.date().isoformat())
    expect(column(page, "dr-rao").locator("[data-testid=calling-token]")).to_have_text("7")

    boards.clear()  # every poll now answers 404
    expect(page.locator("#conn")).to_have_attribute("data-state", "lost")
    expect(page.locator("#conn")).to_contain_text("Connection lost, retrying")
    expect(column(page, "dr-rao")).to_have_class(re.compile(r"\bis-stale\b"))
    expect(column(page, "dr-rao").locator(".stale")).to_contain_text("retrying")
    expect(column(page, "dr-rao").locator("[data-testid=calling-token]")).to_have_text("7")  # never blank


def test_the_board_on_the_real_api_never_goes_blank(
    page: Page, clinic: Clinic, tmp_path_factory: pytest.TempPathFactory
) -> None:
    slot = clinic.new_slot("dr-rao", starts_in=timedelta(minutes=-5))
    open_board(page, "dr-rao", slot_day(slot))
    expect(column(page, "dr-rao").locator(".doctor-name")).to_have_text("Dr Rao")
    expect(page.locator("#conn")).to_have_text(re.compile(r"^(Last updated|Connection lost)"))
    screenshot(page, tmp_path_factory, "board-live")


# -- against the real API ---------------------------------------------------------------------------------


def board_is_served(clinic: Clinic, doctor: str, day: str) -> None:
    answer = clinic.call("GET", f"/boards/{doctor}?date={day}")
    assert answer.status_code == 200, answer.text


def checked_in_slot(clinic: Clinic, doctor: str, patients: int) -> dict[str, Any]:
    """An open slot (started five minutes ago) with `patients` walk-ins checked in: tokens 1.."""
    slot = clinic.new_slot(doctor, starts_in=timedelta(minutes=-5))
    for _ in range(patients):
        clinic.check_in(clinic.book(slot["slotId"], patient("board"))["bookingId"])
    return slot


def test_a_call_is_on_the_board_within_5_s_marked_and_spoken(page: Page, clinic: Clinic) -> None:
    # A doctor of this test's own: another test's call for a shared doctor would be on the board already.
    doctor = f"dr-rao-{uuid.uuid4().hex[:6]}"
    slot = checked_in_slot(clinic, doctor, patients=2)
    day = slot_day(slot)
    board_is_served(clinic, doctor, day)
    open_board(page, doctor, day, names="Dr Rao")
    expect(page.locator("#conn")).to_have_attribute("data-state", "ok")
    expect(column(page, doctor).locator("[data-testid=calling-token]")).not_to_have_text("1")

    answer = clinic.call("POST", f"/slots/{slot['slotId']}/call-next", "reception")
    called_at = time.monotonic()
    assert answer.status_code == 200, answer.text
    assert answer.json()["called"]["token"] == 1
    expect_call_shown(page, doctor, "Dr Rao", 1, called_at)
    expect(column(page, doctor).locator("[data-testid=next-tokens] li")).to_have_text(["2"])
    expect(column(page, doctor).locator("[data-testid=waiting]")).to_have_text("1 waiting")


def test_leave_is_on_the_board_within_5_s(page: Page, clinic: Clinic) -> None:
    doctor = f"dr-leave-{uuid.uuid4().hex[:6]}"  # leave cancels the doctor's whole day: not dr-rao's
    slot = checked_in_slot(clinic, doctor, patients=1)
    day = slot_day(slot)
    board_is_served(clinic, doctor, day)
    open_board(page, doctor, day)
    expect(page.locator("#conn")).to_have_attribute("data-state", "ok")
    expect(column(page, doctor).locator(".notice-leave")).to_be_hidden()

    answer = clinic.call("POST", f"/doctors/{doctor}/leave", "admin", {"date": day})
    recorded_at = time.monotonic()
    assert answer.status_code == 200, answer.text
    expect(column(page, doctor).locator(".notice-leave")).to_have_text(
        "Doctor on leave today", timeout=max(0, 5000 - int((time.monotonic() - recorded_at) * 1000))
    )
    expect(column(page, doctor)).to_have_class(re.compile(r"\bis-leave\b"))
    expect(column(page, doctor).locator(".calling")).to_be_hidden()


def test_a_delay_is_on_the_board_within_5_s(page: Page, clinic: Clinic) -> None:
    slot = checked_in_slot(clinic, f"dr-late-{uuid.uuid4().hex[:6]}", patients=1)
    doctor, day = slot["doctorId"], slot_day(slot)
    board_is_served(clinic, doctor, day)
    open_board(page, doctor, day)
    expect(page.locator("#conn")).to_have_attribute("data-state", "ok")

    answer = clinic.call("PUT", f"/slots/{slot['slotId']}/delay", "admin", {"delayed": True, "minutes": 20})
    delayed_at = time.monotonic()
    assert answer.status_code == 200, answer.text
    expect(column(page, doctor).locator(".notice-delay")).to_have_text(
        "Running 20 min late", timeout=max(0, 5000 - int((time.monotonic() - delayed_at) * 1000))
    )
