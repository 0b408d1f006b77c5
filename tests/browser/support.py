"""Helpers of the browser tests: the API beside the page, and the desk's sign-in and slot selection."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, ViewportSize, expect

from devserver.runner import LocalStack

# -- the API, as an admin or the desk sets things up beside the page ----------------------------------------


_starts = itertools.count()


@dataclass
class Clinic:
    """Requests to the stack's API with tokens from its local Cognito."""

    stack: LocalStack
    session: requests.Session = field(default_factory=requests.Session)

    def call(self, method: str, path: str, role: str | None = None, body: Any = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.stack.token(role, f'{role}-browser')}"} if role else {}
        return self.session.request(method, self.stack.url + path, json=body, headers=headers, timeout=30)

    def new_slot(
        self, doctor: str = "dr-rao", starts_in: timedelta = timedelta(minutes=3), minutes: int = 30, **capacity: int
    ) -> dict[str, Any]:
        """A slot of `doctor` starting about `starts_in` from now (in the past for one already open); each
        call a start of its own, since a doctor cannot have two slots at one instant. Its day: `slot_day`."""
        start = datetime.now(UTC).replace(microsecond=0) + starts_in + timedelta(seconds=next(_starts))
        body = {
            "doctorId": doctor,
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=minutes)).isoformat(),
            **capacity,
        }
        answer = self.call("POST", "/slots", "admin", body)
        assert answer.status_code == 201, answer.text
        slot: dict[str, Any] = answer.json()
        return slot

    def book(self, slot_id: str, patient_id: str, source: str = "WALKIN") -> dict[str, Any]:
        body = {"slotId": slot_id, "patientId": patient_id, "source": source}
        answer = self.call("POST", "/bookings", "reception", body)
        assert answer.status_code == 201, answer.text
        booking: dict[str, Any] = answer.json()
        return booking

    def register(self, name: str, phone: str, year_of_birth: int | None = None) -> dict[str, Any]:
        body = {"name": name, "phone": phone} | ({} if year_of_birth is None else {"yearOfBirth": year_of_birth})
        answer = self.call("POST", "/patients", "reception", body)
        assert answer.status_code == 201, answer.text
        registered: dict[str, Any] = answer.json()
        return registered

    def check_in(self, booking_id: str) -> None:
        answer = self.call("POST", f"/bookings/{booking_id}/check-in", "reception")
        assert answer.status_code == 200, answer.text


def slot_day(slot: dict[str, Any]) -> str:
    """The slot's day in UTC, the local clinic's zone (and the browser's, see `page`)."""
    return datetime.fromisoformat(slot["start"]).astimezone(UTC).date().isoformat()


def patient(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:6]}"


# -- the desk -------------------------------------------------------------------------------------------------


def sign_in(page: Page, role: str = "reception", user: str = "desk-1", query: str = "") -> None:
    """Open desk.html and sign in with the local form (POST /_local/token through the page)."""
    page.goto("/desk.html" + query)
    page.select_option("#signin-role", role)
    page.fill("#signin-user", user)
    page.click("#signin")
    expect(page.locator("#whoami")).to_have_text(f"{user} ({role})")
    expect(page.locator("body")).to_have_attribute("data-role", role)


def open_slot(page: Page, slot: dict[str, Any]) -> None:
    """Show the slot's doctor and day on a signed-in desk, then select the slot."""
    page.fill("#doctor", slot["doctorId"])
    page.fill("#day", slot_day(slot))
    page.click("#load-day")
    row = page.locator(f'tr[data-slot-id="{slot["slotId"]}"]')
    row.locator("button[data-action=select]").click()
    expect(row).to_have_attribute("aria-current", "true")
    expect(page.locator("#slot-panel")).to_be_visible()
    expect(page.locator("#queue-body tr").first).to_be_visible()


def screenshot(page: Page, tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A full-page screenshot under the session's pytest tmp dir, for a person to look at."""
    folder = tmp_path_factory.getbasetemp() / "screenshots"
    folder.mkdir(exist_ok=True)
    target = folder / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    return target


# -- accessibility ----------------------------------------------------------------------------------------------

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
SIZES: dict[str, ViewportSize] = {  # the screens of the contract's web pages
    "hd": ViewportSize(width=1920, height=1080),
    "small": ViewportSize(width=1280, height=720),
    "portrait": ViewportSize(width=1080, height=1920),
    "phone": ViewportSize(width=390, height=844),
    "tablet": ViewportSize(width=820, height=1180),
}


def expect_no_serious_axe_violation(page: Page, what: str) -> None:
    """axe-core on the page as it is now: no violation of impact serious or critical."""
    if not AXE.is_file():
        pytest.fail(f"axe-core is missing at {AXE}: `make axe` installs it (npm ci in tests/browser)", pytrace=False)
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))  # through the debugger: the page's CSP does not apply
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    bad = [v for v in result["violations"] if v.get("impact") in ("serious", "critical")]
    described = [
        f"{v['id']} ({v['impact']}): {v['help']}: " + "; ".join(str(n.get("target")) for n in v.get("nodes", [])[:5])
        for v in bad
    ]
    assert not bad, f"axe-core on {what}:\n" + "\n".join(described)


def document_fits_the_viewport(page: Page) -> tuple[int, int]:
    """(the document's scroll width, the viewport's width)."""
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return int(widths[0]), int(widths[1])


def small_targets(page: Page) -> list[Any]:
    """The visible buttons, links styled as buttons and fields under 44 px high (a thumb's target), as
    [id or text, height]."""
    found = page.evaluate(
        "[...document.querySelectorAll('button, a.button, input, select')].filter(e => e.offsetParent)"
        ".map(e => [e.id || e.textContent, e.getBoundingClientRect().height]).filter(([, h]) => h < 44)"
    )
    assert isinstance(found, list)
    return found
