"""slip.html in chromium: the token slip the desk prints on 58 mm and 80 mm thermal paper.

The booking's slip is taken as the printer gets it (print media, a 58 mm wide window), a screenshot taken, and
the QR code in it read back with zxing-cpp: it must be the booking's status link. A
counter token's slip shows its label and the counter's name.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Page, ViewportSize, expect

from devserver.runner import LocalStack
from tests.browser.support import Clinic, expect_no_serious_axe_violation, open_slot, patient, screenshot, sign_in

pytestmark = pytest.mark.xdist_group("browser")

REPO = Path(__file__).resolve().parents[2]
VENDORED = REPO / "web" / "vendor" / "qrcode-generator.js"
NPM_COPY = Path(__file__).parent / "node_modules" / "qrcode-generator" / "dist" / "qrcode.mjs"
PAPER_58 = ViewportSize(width=220, height=300)  # 58 mm at 96 px per inch is 219 px; the page grows to the slip
HOSPITAL = "City General Hospital, Pune"
MM = 72 / 25.4  # PDF points per millimetre
# print() stubbed before the page's scripts run: a test counts the calls, and no dialog is waited for.
PRINT_STUB = "window.__printed = 0; window.print = () => { window.__printed += 1; };"


def doctor_with_a_room(clinic: Clinic) -> tuple[str, str]:
    doctor_id = f"dr-slip-{uuid.uuid4().hex[:6]}"
    body = {"name": "Dr Meera Nair", "department": "ENT", "room": "7B"}
    answer = clinic.call("PUT", f"/doctors/{doctor_id}", "admin", body)
    assert answer.status_code == 200, answer.text
    return doctor_id, "Dr Meera Nair"


def booked(clinic: Clinic, doctor_id: str) -> dict[str, Any]:
    slot = clinic.new_slot(doctor_id)
    booking = clinic.book(slot["slotId"], patient("slip"))
    # The booking as staff read it: its statusCode, the link its SMS and its slip carry.
    answer = clinic.call("GET", f"/bookings/{booking['bookingId']}", "reception")
    assert answer.status_code == 200, answer.text
    read: dict[str, Any] = answer.json()
    assert read["statusCode"], read
    return read


def booking_start(clinic: Clinic, booking: dict[str, Any]) -> str:
    answer = clinic.call("GET", f"/slots/{booking['slotId']}")
    assert answer.status_code == 200, answer.text
    start: str = answer.json()["start"]
    return start


def decoded_qr_codes(png: Path) -> list[str]:
    with Image.open(png) as picture:
        found = zxingcpp.read_barcodes(picture.convert("L"))
    return [code.text for code in found if code.format == zxingcpp.BarcodeFormat.QRCode]


def pdf_page_sizes_mm(pdf: bytes) -> list[tuple[float, float]]:
    """Each page's MediaBox in millimetres (chromium writes them in clear)."""
    boxes = re.findall(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    return [
        (round((float(x1) - float(x0)) / MM, 1), round((float(y1) - float(y0)) / MM, 1)) for x0, y0, x1, y1 in boxes
    ]


def test_a_booking_slip_printed_at_58_mm_carries_its_status_link_in_a_qr_code_that_reads_back(
    page: Page, clinic: Clinic, web_stack: LocalStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOSPITAL_NAME", HOSPITAL)  # what the local server puts in config.json (in this process)
    doctor_id, name = doctor_with_a_room(clinic)
    booking = booked(clinic, doctor_id)
    status_url = f"{web_stack.url}/status.html#{booking['statusCode']}"
    sign_in(page)  # the slip reads the booking with the desk's token (this tab's sessionStorage)

    page.set_viewport_size(PAPER_58)
    page.emulate_media(media="print")
    page.goto(f"/slip.html?booking={booking['bookingId']}&paper=58&print=0")
    expect(page.locator("body")).to_have_attribute("data-state", "ready")
    expect(page.locator("body")).to_have_class(re.compile(r"\bpaper-58\b"))
    expect(page.locator("#hospital")).to_have_text(HOSPITAL)
    expect(page.locator("#token")).to_have_text(str(booking["token"]))
    expect(page.locator("#place")).to_have_text(name)
    expect(page.locator("#room")).to_have_text("Room 7B")
    expect(page.locator("#when")).to_have_text(re.compile(r"^\w{3} \d{1,2} \w{3} \d{4}, \d\d:\d\d–\d\d:\d\d$"))
    expect(page.locator("#estimate")).to_have_text(re.compile(r"^Expected call about \d\d:\d\d$"))
    expect(page.locator(".screen-only")).to_be_hidden()  # printed: the slip and nothing else
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PAPER_58["width"], width  # nothing wider than the paper

    picture = tmp_path / "slip.png"  # the demo writes the README's (docs/screenshots/slip.png)
    page.screenshot(path=str(picture), full_page=True)
    assert decoded_qr_codes(picture) == [status_url]

    # The printed page: 58 mm wide, as long as the slip (a roll is cut at the page's end), one page.
    sizes = pdf_page_sizes_mm(page.pdf(prefer_css_page_size=True, print_background=True))
    assert len(sizes) == 1, sizes
    assert abs(sizes[0][0] - 58) < 0.5, sizes
    assert 60 < sizes[0][1] < 160, sizes


def test_the_80_mm_slip_is_wider_and_still_reads_back(
    page: Page, clinic: Clinic, web_stack: LocalStack, tmp_path: Path
) -> None:
    doctor_id, _ = doctor_with_a_room(clinic)
    booking = booked(clinic, doctor_id)
    sign_in(page)
    page.set_viewport_size(ViewportSize(width=310, height=800))
    page.emulate_media(media="print")
    page.goto(f"/slip.html?booking={booking['bookingId']}&paper=80&print=0")
    expect(page.locator("body")).to_have_attribute("data-state", "ready")
    expect(page.locator("body")).to_have_class(re.compile(r"\bpaper-80\b"))
    shot = tmp_path / "slip-80.png"
    page.screenshot(path=str(shot), full_page=True)
    assert decoded_qr_codes(shot) == [f"{web_stack.url}/status.html#{booking['statusCode']}"]
    sizes = pdf_page_sizes_mm(page.pdf(prefer_css_page_size=True, print_background=True))
    assert len(sizes) == 1 and abs(sizes[0][0] - 80) < 0.5, sizes


def test_the_slip_opens_the_print_dialog_once_it_is_drawn_and_is_accessible(
    page: Page, clinic: Clinic, tmp_path_factory: pytest.TempPathFactory
) -> None:
    doctor_id, _ = doctor_with_a_room(clinic)
    booking = booked(clinic, doctor_id)
    sign_in(page)
    page.add_init_script(PRINT_STUB)
    page.goto(f"/slip.html?booking={booking['bookingId']}")
    expect(page.locator("body")).to_have_attribute("data-state", "ready")
    expect(page.locator("#message")).to_have_text(f"Token {booking['token']} ready on 58 mm paper")
    expect(page.locator("#hospital")).to_have_text("OPD")  # HOSPITAL_NAME unset: the local server's default
    page.wait_for_function("window.__printed === 1")
    expect(page.locator("#print")).to_be_visible()  # and again, by hand
    expect_no_serious_axe_violation(page, "a booking's slip")
    screenshot(page, tmp_path_factory, "slip-on-screen")  # the preview with its buttons, as the desk sees it


def test_a_slip_without_a_desk_sign_in_or_for_a_finished_booking_says_so_and_prints_nothing(
    page: Page, clinic: Clinic
) -> None:
    doctor_id, _ = doctor_with_a_room(clinic)
    booking = booked(clinic, doctor_id)
    page.add_init_script(PRINT_STUB)
    page.goto(f"/slip.html?booking={booking['bookingId']}")
    expect(page.locator("body")).to_have_attribute("data-state", "error")
    expect(page.locator("#message")).to_have_text("Signed out: sign in at the desk, then print the slip again")
    expect(page.locator("#slip")).to_be_hidden()

    answer = clinic.call("POST", f"/bookings/{booking['bookingId']}/cancel", "reception")
    assert answer.status_code == 200, answer.text
    sign_in(page)
    page.goto(f"/slip.html?booking={booking['bookingId']}")
    expect(page.locator("#message")).to_have_text(f"Token {booking['token']} is cancelled: no slip to print")
    page.goto("/slip.html?booking=..%2Fx")
    expect(page.locator("#message")).to_have_text(
        "This slip's address names no valid booking: print it again from the desk"
    )
    assert page.evaluate("window.__printed") == 0
    expect_no_serious_axe_violation(page, "a slip that cannot be printed")


def test_a_counter_tokens_slip_shows_its_label_and_the_counters_name(page: Page, clinic: Clinic) -> None:
    counter_id = f"reg-slip-{uuid.uuid4().hex[:6]}"
    named = clinic.call("PUT", f"/counters/{counter_id}", "admin", {"name": "Registration 3", "prefix": "OPD"})
    assert named.status_code == 200, named.text
    answer = clinic.call("POST", f"/counters/{counter_id}/tokens", "reception", {})
    assert answer.status_code == 201, answer.text
    token = answer.json()
    sign_in(page)
    page.set_viewport_size(PAPER_58)
    page.emulate_media(media="print")
    page.goto(f"/slip.html?counter={counter_id}&date={token['date']}&number={token['number']}&print=0")
    expect(page.locator("body")).to_have_attribute("data-state", "ready")
    expect(page.locator("#kind")).to_have_text("Registration token")
    expect(page.locator("#token")).to_have_text("OPD-1")
    expect(page.locator("#token")).to_have_class(re.compile(r"\bis-long\b"))  # 5 characters: a size that fits
    expect(page.locator("#place")).to_have_text("Registration 3")
    expect(page.locator("#when")).to_have_text(re.compile(r"^Issued \w{3} \d{1,2} \w{3} \d{4}, \d\d:\d\d$"))
    expect(page.locator("#qr-box")).to_be_hidden()
    expect(page.locator("#estimate")).to_be_hidden()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PAPER_58["width"], width
    page.emulate_media(media="screen")
    expect_no_serious_axe_violation(page, "a counter token's slip")

    page.goto(f"/slip.html?counter={counter_id}&date={token['date']}&number=7&print=0")
    expect(page.locator("#message")).to_have_text(f"No token 7 at this counter on {token['date']}")


def test_the_desks_print_slip_opens_the_bookings_slip_with_the_desks_sign_in(
    page: Page, clinic: Clinic, web_stack: LocalStack
) -> None:
    doctor_id, name = doctor_with_a_room(clinic)
    booking = booked(clinic, doctor_id)
    page.context.add_init_script(PRINT_STUB)  # the slip's own window too
    sign_in(page)
    open_slot(page, {"doctorId": doctor_id, "slotId": booking["slotId"], "start": booking_start(clinic, booking)})
    button = page.locator(f'#queue-body button[data-action="print-slip"][data-booking-id="{booking["bookingId"]}"]')
    expect(button).to_have_accessible_name(f"Print slip for token {booking['token']}")
    with page.context.expect_page() as opened:
        button.click()
    slip = opened.value
    assert slip.url == f"{web_stack.url}/slip.html?booking={booking['bookingId']}&paper=58", slip.url
    expect(slip.locator("body")).to_have_attribute("data-state", "ready")
    expect(slip.locator("#token")).to_have_text(str(booking["token"]))
    expect(slip.locator("#place")).to_have_text(name)
    slip.wait_for_function("window.__printed === 1")
    expect(page.locator("#status")).to_have_text(f"Slip for token {booking['token']} opened for printing")


def test_the_vendored_qr_library_is_the_npm_packages_file_unchanged() -> None:
    """web/vendor/qrcode-generator.js is qrcode-generator's dist/qrcode.mjs of the version tests/browser pins
    (package-lock.json, with its integrity hash), byte for byte; web/README.md names that version."""
    if not NPM_COPY.is_file():
        pytest.fail(f"{NPM_COPY} is missing: `make axe` installs it (npm ci in tests/browser)", pytrace=False)
    assert VENDORED.read_bytes() == NPM_COPY.read_bytes()
    version = re.search(r'"version":\s*"([^"]+)"', (NPM_COPY.parents[1] / "package.json").read_text())
    assert version is not None
    assert f"qrcode-generator {version.group(1)}" in (REPO / "web" / "README.md").read_text(encoding="utf-8")
    assert (VENDORED.parent / "qrcode-generator.LICENSE").is_file()
