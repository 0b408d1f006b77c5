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

from tests.browser.support import SIZES, Clinic, expect_no_serious_axe_violation, patient, screenshot, slot_day

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


def directory_board(now: datetime) -> dict[str, dict[str, Any]]:
    """Three doctors as the directory names them: one calling, one on leave with a session still to come,
    and an id with no record and no slots."""
    day = now.date().isoformat()
    later = board_slot(now, start=(now + timedelta(hours=2)).isoformat(), end=(now + timedelta(hours=3)).isoformat())
    return {
        "dr-a": {
            "doctorId": "dr-a",
            "doctorName": "Dr Anjali Rao",
            "room": "12B",
            "date": day,
            "slots": [board_slot(now, calling=7, next=[8, 9, 10], waiting=3)],
        },
        "dr-b": {
            "doctorId": "dr-b",
            "doctorName": "Dr Vikram Iyer",
            "room": "4",
            "date": day,
            "slots": [later | {"closed": True}],
        },
        "dr-x": {"doctorId": "dr-x", "doctorName": "dr-x", "room": None, "date": day, "slots": []},
    }


def test_the_board_shows_the_directorys_names_and_rooms_leave_instead_of_the_next_session_and_an_unknown_doctor(
    page: Page, tmp_path_factory: pytest.TempPathFactory
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    serve_boards(page, directory_board(now))
    page.set_viewport_size(SIZES["hd"])
    open_board(page, "dr-a,dr-b,dr-x", now.date().isoformat())
    a, b, x = column(page, "dr-a"), column(page, "dr-b"), column(page, "dr-x")
    expect(page.locator("#conn")).to_have_attribute("data-state", "ok")

    expect(a.locator(".doctor-name")).to_have_text("Dr Anjali Rao")
    expect(a.locator("[data-testid=room]")).to_have_text("Room 12B")
    expect(a.locator("[data-testid=calling-token]")).to_have_text("7")
    expect(b.locator(".doctor-name")).to_have_text("Dr Vikram Iyer")
    expect(b.locator(".notice-leave")).to_have_text("Doctor on leave today")
    expect(b.locator(".slot-time")).to_be_hidden()  # instead of "Next session ...", not under it
    expect(b).not_to_contain_text("Next session")
    expect(x).to_have_class(re.compile(r"\bis-unknown\b"))
    expect(x.locator(".slot-time")).to_have_text("No doctor dr-x is recorded")
    expect(x.locator("[data-testid=room]")).to_be_hidden()
    expect(x).not_to_contain_text("No sessions today")
    expect_no_serious_axe_violation(page, "the board at 1920x1080")
    screenshot(page, tmp_path_factory, "board-1920x1080")


def test_a_new_call_on_a_1280x720_screen_does_not_cover_the_slots_time(
    page: Page, tmp_path_factory: pytest.TempPathFactory
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    boards = directory_board(now)
    serve_boards(page, boards)
    page.set_viewport_size(SIZES["small"])
    open_board(page, "dr-a,dr-b,dr-x", now.date().isoformat())
    a = column(page, "dr-a")
    expect(a.locator("[data-testid=calling-token]")).to_have_text("7")

    boards["dr-a"]["slots"][0] |= {"calling": 8, "next": [9, 10], "waiting": 2}
    expect(a.locator(".calling")).to_have_class(re.compile(r"\bis-fresh\b"))
    assert "Token 8, please go to room 12B, Dr Anjali Rao" in spoken(page)
    for moment in range(3):  # across the pulse: the highlight's box and the time's never overlap
        time_box = a.locator(".slot-time").bounding_box()
        highlight = a.locator(".calling").evaluate(
            "e => { const r = e.getBoundingClientRect(); const s = getComputedStyle(e);"
            " return {top: r.top, overflow: s.overflow, shadow: s.boxShadow}; }"
        )
        assert time_box is not None
        assert time_box["y"] + time_box["height"] <= highlight["top"], (moment, time_box, highlight)
        assert highlight["overflow"] == "hidden" and highlight["shadow"] == "none", highlight
        page.wait_for_timeout(350)
    expect_no_serious_axe_violation(page, "the board at 1280x720 with a fresh call")
    screenshot(page, tmp_path_factory, "board-1280x720-fresh-call")


def test_a_portrait_screen_gets_one_band_per_doctor(page: Page, tmp_path_factory: pytest.TempPathFactory) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    serve_boards(page, directory_board(now))
    page.set_viewport_size(SIZES["portrait"])
    open_board(page, "dr-a,dr-b,dr-x", now.date().isoformat())
    expect(column(page, "dr-a").locator("[data-testid=calling-token]")).to_have_text("7")
    expect(page.locator("#board")).to_have_class(re.compile(r"\bis-portrait\b"))

    boxes = [column(page, doctor).bounding_box() for doctor in ("dr-a", "dr-b", "dr-x")]
    assert all(box is not None for box in boxes)
    for box in boxes:  # full width bands, one under the other: no three thin columns
        assert box is not None and box["width"] > 0.9 * SIZES["portrait"]["width"], box
    tops = [box["y"] for box in boxes if box is not None]
    assert tops == sorted(tops) and len(set(tops)) == 3, tops
    # The bands fill the screen: no huge empty block under them.
    last = boxes[-1]
    assert last is not None and last["y"] + last["height"] > 0.85 * SIZES["portrait"]["height"], last
    token = column(page, "dr-a").locator("[data-testid=calling-token]").bounding_box()
    assert token is not None and token["height"] > 150, token  # read from across a room
    expect_no_serious_axe_violation(page, "the board in portrait")
    screenshot(page, tmp_path_factory, "board-1080x1920-portrait")


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


def test_the_board_on_the_real_api_names_the_doctor_and_room_from_the_directory(page: Page, clinic: Clinic) -> None:
    doctor = f"dr-dir-{uuid.uuid4().hex[:6]}"
    answer = clinic.call(
        "PUT", f"/doctors/{doctor}", "admin", {"name": "Dr Kavya Menon", "department": "ENT", "room": "3A"}
    )
    assert answer.status_code == 200, answer.text
    slot = clinic.new_slot(doctor, starts_in=timedelta(minutes=-5))
    unknown = f"dr-none-{uuid.uuid4().hex[:6]}"
    open_board(page, f"{doctor},{unknown}", slot_day(slot))
    expect(column(page, doctor).locator(".doctor-name")).to_have_text("Dr Kavya Menon")
    expect(column(page, doctor).locator("[data-testid=room]")).to_have_text("Room 3A")
    expect(column(page, unknown).locator(".slot-time")).to_have_text(f"No doctor {unknown} is recorded")
