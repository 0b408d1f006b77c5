"""Registration counters in chromium: the desk issues and calls counter tokens, the board shows them (?counters=).

Against the real API (POST /counters/{id}/tokens, POST /counters/{id}/call-next, GET /counters/{id}/queue and
the public GET /boards/counters/{id}); the desk signs in locally, the board needs no sign-in.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import PageProblems
from tests.browser.support import (
    SIZES,
    Clinic,
    document_fits_the_viewport,
    expect_no_serious_axe_violation,
    screenshot,
    sign_in,
)
from tests.browser.test_board import SPEECH_STUB

pytestmark = pytest.mark.xdist_group("browser")

PRINT_STUB = "window.__printed = 0; window.print = () => { window.__printed += 1; };"


def letters(prefix: str) -> str:
    """A name of the register's letters only, new each time: "Nairkabf"."""
    return prefix + uuid.uuid4().hex[:4].translate(str.maketrans("0123456789", "ghijklmnop"))


def named_counter(clinic: Clinic, name: str = "Registration 1", prefix: str = "R") -> str:
    counter_id = f"reg-{uuid.uuid4().hex[:6]}"
    answer = clinic.call("PUT", f"/counters/{counter_id}", "admin", {"name": name, "prefix": prefix})
    assert answer.status_code == 200, answer.text
    return counter_id


def show_counter(page: Page, counter_id: str) -> None:
    page.fill("#counter", counter_id)
    page.click("#load-counter")
    expect(page.locator("#counter-panel")).to_be_visible()


def token_row(page: Page, label: str) -> Any:
    return page.locator(f'#counter-queue-body tr[data-label="{label}"]')


def spoken(page: Page) -> list[str]:
    said = page.evaluate("window.__spoken")
    assert isinstance(said, list)
    return [str(text) for text in said]


def test_a_receptionist_issues_and_calls_counter_tokens_and_the_board_shows_the_called_label(
    page: Page, clinic: Clinic, page_problems: PageProblems, tmp_path_factory: pytest.TempPathFactory
) -> None:
    counter_id = named_counter(clinic)
    surname = letters("Kaur")
    meera = clinic.register(f"Meera {surname}", "+919876543210", 1984)

    sign_in(page)
    show_counter(page, counter_id)
    expect(page.locator("#counter-info")).to_have_text("Registration 1")
    expect(page.locator("#counter-summary")).to_have_text("Registration 1: no one called, 0 waiting, 0 issued today")
    expect(page.locator("#counter-queue-body")).to_have_text("No token issued today")

    # A token for a patient found by name, then one for whoever is at the counter (no patient).
    page.fill("#counter-patient-search", surname)
    pick = page.locator("#counter-patient-results button[data-patient-id]")
    expect(pick).to_have_text([f"Meera {surname} · phone …3210 · born 1984"])
    pick.click()
    expect(page.locator("#counter-patient")).to_have_text(f"Token for Meera {surname}, phone …3210")
    expect(page.locator("#counter-issue")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_have_text(
        f"Token R-1 issued for Meera {surname} at Registration 1: print its slip from the list"
    )
    first = token_row(page, "R-1")
    expect(first).to_have_attribute("data-status", "WAITING")
    expect(first.locator("td.patient")).to_have_text(f"Meera {surname}")
    expect(first.locator('button[data-action="print-slip"]')).to_be_focused()  # its slip, next
    expect(page.locator("#counter-patient")).to_have_text(
        "No patient chosen: the token is for whoever is at the counter"
    )
    page.click("#counter-issue")
    expect(page.locator("#status")).to_have_text("Token R-2 issued at Registration 1: print its slip from the list")
    expect(token_row(page, "R-2").locator("td.patient")).to_have_text("not given")
    stored = clinic.call("GET", f"/counters/{counter_id}/queue", "reception").json()
    assert [(t["label"], t["patientId"], t["source"]) for t in stored["tokens"]] == [
        ("R-1", meera["patientId"], "DESK"),
        ("R-2", None, "DESK"),
    ]

    # The waiting-room board, beside a doctor, in English and Hindi.
    board = page.context.new_page()
    board.on("pageerror", lambda error: page_problems.errors.append(f"board: {error.name}: {error.message}"))
    board.on("console", page_problems.on_console)
    board.set_viewport_size(SIZES["small"])
    board.add_init_script(SPEECH_STUB)
    board.goto(f"/board.html?doctors=dr-rao&counters={counter_id}&lang=en,hi&langEvery=3600")
    column = board.locator(f'.counter[data-counter-id="{counter_id}"]')
    expect(column.locator(".doctor-name")).to_have_text("Registration 1")
    expect(column.locator("[data-testid=calling-token]")).to_have_text("—")
    expect(column.locator("[data-testid=next-tokens] li")).to_have_text(["R-1", "R-2"])
    expect(column.locator("[data-testid=waiting]")).to_have_text("2 waiting")
    expect(board.locator('.doctor[data-doctor-id="dr-rao"]')).to_be_visible()  # beside the doctors

    page.bring_to_front()
    page.click("#counter-call-next")
    expect(page.locator("#status")).to_have_text(f"Registration 1: Called R-1 (Meera {surname})")
    called_at = time.monotonic()  # the call is written (the desk has its answer): the board has 5 s from here
    expect(token_row(page, "R-1")).to_have_attribute("data-status", "CALLED")
    expect(page.locator("#counter-summary")).to_have_text("Registration 1: calling R-1, 1 waiting, 2 issued today")

    expect(column.locator("[data-testid=calling-token]")).to_have_text(
        "R-1", timeout=max(0, 5000 - int((time.monotonic() - called_at) * 1000))
    )  # within the contract's 5 s
    expect(column.locator(".calling")).to_have_class(re.compile(r"(?=.*\bis-calling\b)(?=.*\bis-fresh\b)"))
    expect(column.locator("[data-testid=next-tokens] li")).to_have_text(["R-2"])
    expect(column.locator("[data-testid=waiting]")).to_have_text("1 waiting")
    expect(board.locator("#announce span[lang=en]")).to_have_text("Registration 1: now calling R-1")
    expect(board.locator("#announce span[lang=hi]")).to_have_text("Registration 1: टोकन R-1 बुलाया जा रहा है")
    said = spoken(board)
    assert "Token R 1, please come to Registration 1" in said, said
    assert "टोकन R 1, कृपया Registration 1 पर आएँ" in said, said
    screenshot(board, tmp_path_factory, "board-counter")

    page.click("#counter-call-next")
    expect(page.locator("#status")).to_have_text("Registration 1: Served R-1. Called R-2")
    expect(token_row(page, "R-1")).to_have_attribute("data-status", "SERVED")
    expect(token_row(page, "R-1").locator('button[data-action="print-slip"]')).to_have_count(0)  # served: no slip
    expect(column.locator("[data-testid=calling-token]")).to_have_text("R-2")
    expect(column.locator("[data-testid=waiting]")).to_have_text("No one waiting")
    page.click("#counter-call-next")
    expect(page.locator("#status")).to_have_text("Registration 1: Served R-2. No one waiting to call")
    expect(column.locator("[data-testid=calling-token]")).to_have_text("—")
    expect(page.locator("#messages")).to_be_empty()
    expect_no_serious_axe_violation(page, "the desk's counter panel")
    screenshot(page, tmp_path_factory, "desk-counter")


def test_the_desk_prints_a_counter_tokens_slip_and_remembers_the_counter(page: Page, clinic: Clinic) -> None:
    counter_id = named_counter(clinic, "Registration 2", "RB")
    page.context.add_init_script(PRINT_STUB)  # the slip's window too
    sign_in(page)
    show_counter(page, counter_id)
    page.click("#counter-issue")
    expect(page.locator("#status")).to_have_text("Token RB-1 issued at Registration 2: print its slip from the list")

    page.select_option("#slip-paper", "80")
    with page.context.expect_page() as opened:
        token_row(page, "RB-1").locator('button[data-action="print-slip"]').click()
    slip = opened.value
    expect(page.locator("#status")).to_have_text("Slip for token RB-1 opened for printing")
    assert re.search(rf"/slip\.html\?counter={counter_id}&date=\d{{4}}-\d\d-\d\d&number=1&paper=80$", slip.url), (
        slip.url
    )
    expect(slip.locator("body")).to_have_attribute("data-state", "ready")  # with the desk's token, copied
    expect(slip.locator("#token")).to_have_text("RB-1")
    expect(slip.locator("#place")).to_have_text("Registration 2")
    expect(slip.locator("#kind")).to_have_text("Registration token")
    expect(slip.locator("#qr-box")).to_be_hidden()  # a counter token has no status link
    slip.wait_for_function("window.__printed === 1")
    slip.close()

    # The desk comes back to the last counter after a reload, and the paper chosen.
    page.reload()
    expect(page.locator("#whoami")).to_have_text("desk-1 (reception)")
    expect(page.locator("#counter")).to_have_value(counter_id)
    expect(page.locator("#slip-paper")).to_have_value("80")
    expect(token_row(page, "RB-1")).to_have_attribute("data-status", "WAITING")


def test_a_scan_and_share_token_is_marked_abdm_in_the_counter_queue(page: Page, clinic: Clinic) -> None:
    """The desk's own marking of an ABDM token (the share itself is tested through the fake gateway elsewhere):
    the queue's answer gets one ABDM token added on its way to the page."""
    counter_id = named_counter(clinic)
    patient = clinic.register(f"Ravi {letters('Share')}", "+919811112222")

    def with_a_share(route: Route) -> None:
        answer = route.fetch()
        body = answer.json()
        body["tokens"].append(
            {
                "counterId": counter_id,
                "date": body["date"],
                "number": 1,
                "label": "R-1",
                "status": "WAITING",
                "source": "ABDM",
                "patientId": patient["patientId"],
                "patientName": patient["name"],
                "createdAt": "2026-01-01T04:00:00Z",
                "calledAt": None,
                "servedAt": None,
                "expiresAt": "2026-01-01T04:30:00Z",
            }
        )
        route.fulfill(response=answer, body=json.dumps(body))

    page.route(re.compile(rf"/counters/{counter_id}/queue"), with_a_share)
    sign_in(page)
    show_counter(page, counter_id)
    row = token_row(page, "R-1")
    expect(row).to_have_attribute("data-source", "ABDM")
    expect(row.locator(".badge-abdm")).to_have_text("ABDM Scan & Share")
    expect(row.locator("td.patient")).to_have_text(patient["name"])
    expect_no_serious_axe_violation(page, "the desk's counter queue with an ABDM token")


@pytest.mark.parametrize("size", ["phone", "tablet"])
def test_the_counter_panel_fits_a_phone_and_a_tablet(
    page: Page, clinic: Clinic, size: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    counter_id = named_counter(clinic, "Registration counter near the main gate")
    for _ in range(2):
        assert clinic.call("POST", f"/counters/{counter_id}/tokens", "reception", {}).status_code == 201
    page.set_viewport_size(SIZES[size])
    sign_in(page)
    show_counter(page, counter_id)
    expect(page.locator("#counter-queue-body tr[data-counter-number]")).to_have_count(2)
    width, viewport = document_fits_the_viewport(page)
    assert width <= viewport, (width, viewport)
    expect_no_serious_axe_violation(page, f"the desk's counter panel on a {size}")
    page.locator("#counter-section").scroll_into_view_if_needed()
    screenshot(page, tmp_path_factory, f"desk-counter-{size}")


def test_a_counter_id_the_desk_cannot_send_is_named_before_anything_is_sent(page: Page) -> None:
    sign_in(page)
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if "/counters/" in request.url else None)
    page.fill("#counter", "reg 1/../x")
    page.click("#load-counter")
    expect(page.locator("#messages li[data-field]")).to_have_text(
        ["Counter: a counter id: letters, digits and . _ : - only, at most 64"]
    )
    expect(page.locator("#counter")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#counter-panel")).to_be_hidden()
    assert sent == []
