"""The pages in Hindi and Tamil beside English (issue 21; contract v3, "Languages"), in Chromium.

- The board with ?lang=hi,en shows its labels in each language in turn (?langEvery=1: a second each, not 8) and
  speaks a new call in each, with the device's voice of that language (speechSynthesis stubbed before the page
  loads: its voices, and what it is asked to speak); a language without a voice is shown, not spoken, and named
  in a note for the staff.
- The status page follows the browser's language (Tamil), keeps the switch's choice after a reload, and stores
  nothing but that choice (never the code).
- The app's switch: Hindi texts, <html lang="hi">, kept after a reload; a booking made in Hindi carries `hi`, and
  the sign-in code's SMS is asked for in the language shown.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from devserver.runner import LocalStack
from tests.browser.conftest import PageProblems, checked_page
from tests.browser.support import (
    SIZES,
    Clinic,
    document_fits_the_viewport,
    expect_no_serious_axe_violation,
    screenshot,
    slot_day,
    small_targets,
)
from tests.browser.test_board import board_slot, column, serve_boards
from tests.browser.test_patient_app import PHONE_SIZE, a_doctor, a_phone, booked_in_app, code_sent_to

pytestmark = pytest.mark.xdist_group("browser")

DEVANAGARI = re.compile(r"[\u0900-\u097f]")
TAMIL = re.compile(r"[\u0b80-\u0bff]")
NATIVE_DIGITS = re.compile(r"[\u0966-\u096f\u0be6-\u0bef]")


def speech_stub(voices: list[str]) -> str:
    """speechSynthesis with voices of the given tags; each utterance asked for is kept in window.__spoken."""
    listed = [
        {"lang": tag, "name": f"Voice {tag}", "voiceURI": tag, "localService": True, "default": False} for tag in voices
    ]
    return f"""
window.__spoken = [];
const voices = {json.dumps(listed)};
window.SpeechSynthesisUtterance = class {{
  constructor(text) {{ this.text = text; this.lang = ""; this.voice = null; this.rate = 1; }}
}};
Object.defineProperty(window, "speechSynthesis", {{
  configurable: true,
  value: {{
    speak(u) {{ window.__spoken.push({{lang: u.lang, text: u.text, voice: u.voice ? u.voice.lang : null}}); }},
    cancel() {{}}, pause() {{}}, resume() {{}}, getVoices() {{ return voices; }},
    speaking: false, pending: false, paused: false,
    addEventListener() {{}}, removeEventListener() {{}},
  }},
}});
"""


def spoken(page: Page) -> list[dict[str, Any]]:
    said = page.evaluate("window.__spoken")
    assert isinstance(said, list)
    return said


def visible_text(page: Page) -> str:
    text = page.evaluate("document.body.innerText")
    assert isinstance(text, str)
    return text


# -- the board --------------------------------------------------------------------------------------------


def test_the_board_in_hindi_and_english_switches_its_labels_and_speaks_a_call_in_both(
    page: Page, clinic: Clinic, tmp_path_factory: pytest.TempPathFactory
) -> None:
    doctor = f"dr-lang-{uuid.uuid4().hex[:6]}"
    answer = clinic.call("PUT", f"/doctors/{doctor}", "admin", {"name": "Dr Rao", "department": "ENT", "room": "12B"})
    assert answer.status_code == 200, answer.text
    slot = clinic.new_slot(doctor, starts_in=timedelta(minutes=-5))
    for n in range(2):
        clinic.check_in(clinic.book(slot["slotId"], f"lang-{n}-{uuid.uuid4().hex[:6]}")["bookingId"])
    page.add_init_script(speech_stub(["hi-IN", "en-IN", "en-US"]))
    page.set_viewport_size(SIZES["hd"])
    page.goto(f"/board.html?doctors={doctor}&date={slot_day(slot)}&lang=hi,en&langEvery=2")
    col = column(page, doctor)
    expect(page.locator("#conn")).to_have_attribute("data-state", "ok")

    # Each language in turn: the labels, the room, the count, the page's own language.
    label, html = col.locator(".calling-label"), page.locator("html")
    expect(label).to_have_text("वर्तमान टोकन", timeout=1500)  # from the start, not after a turn
    screenshot(page, tmp_path_factory, "board-hindi")
    expect(html).to_have_attribute("lang", "hi")
    expect(col.locator("[data-testid=room]")).to_have_text("कमरा 12B")
    expect(col.locator("[data-testid=waiting]")).to_have_text("2 प्रतीक्षा में")
    expect(page.locator(".bar-title")).to_contain_text("ओपीडी")
    assert not NATIVE_DIGITS.search(visible_text(page))
    expect_no_serious_axe_violation(page, "the board in Hindi")
    expect(label).to_have_text("Now calling")
    expect(html).to_have_attribute("lang", "en")
    expect(col.locator("[data-testid=room]")).to_have_text("Room 12B")
    expect(col.locator("[data-testid=waiting]")).to_have_text("2 waiting")
    expect(label).to_have_text("वर्तमान टोकन")  # and back
    expect(page.locator("#voice-note")).to_be_hidden()  # a voice for each of its languages
    assert spoken(page) == []  # the first load is never spoken

    called = clinic.call("POST", f"/slots/{slot['slotId']}/call-next", "reception")
    assert called.status_code == 200, called.text
    expect(col.locator("[data-testid=calling-token]")).to_have_text("1", timeout=5000)
    expect(page.locator("#announce span[lang=hi]")).to_have_text("Dr Rao: टोकन 1 बुलाया जा रहा है")
    expect(page.locator("#announce span[lang=en]")).to_have_text("Dr Rao: now calling token 1")
    assert spoken(page) == [
        {"lang": "hi-IN", "voice": "hi-IN", "text": "टोकन 1, कृपया कमरा 12B में जाएँ, Dr Rao"},
        {"lang": "en-IN", "voice": "en-IN", "text": "Token 1, please go to room 12B, Dr Rao"},
    ]
    page.wait_for_timeout(3000)  # later polls and language turns speak nothing again
    assert len(spoken(page)) == 2


def test_a_language_the_device_cannot_speak_is_shown_and_named_for_the_staff(
    page: Page, tmp_path_factory: pytest.TempPathFactory
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    day = now.date().isoformat()
    boards: dict[str, dict[str, Any]] = {
        "dr-a": {
            "doctorId": "dr-a",
            "doctorName": "Dr Anjali Rao",
            "room": "12B",
            "date": day,
            "slots": [board_slot(now, calling=7, next=[8, 9, 10], waiting=3, delayed=True, delayMinutes=15)],
        },
        "dr-b": {
            "doctorId": "dr-b",
            "doctorName": "Dr Vikram Iyer",
            "room": None,
            "date": day,
            "slots": [board_slot(now, calling=2, next=[3], waiting=1)],
        },
        "dr-c": {"doctorId": "dr-c", "doctorName": "Dr Meera Nair", "room": "4", "date": day, "slots": []},
    }
    serve_boards(page, boards)
    page.add_init_script(speech_stub(["hi-IN", "en-IN"]))  # no Tamil voice here
    page.set_viewport_size(SIZES["small"])
    page.goto(f"/board.html?doctors=dr-a,dr-b,dr-c&date={day}&lang=ta,en&langEvery=1")
    a = column(page, "dr-a")
    expect(a.locator("[data-testid=calling-token]")).to_have_text("7")
    note = page.locator("#voice-note")
    expect(note).to_have_text("No Tamil voice on this device: Tamil calls are shown, not spoken")
    expect(note).to_have_attribute("lang", "en")

    expect(a.locator(".calling-label")).to_have_text("தற்போதைய டோக்கன்")
    expect(a.locator(".notice-delay")).to_have_text("15 நிமிடம் தாமதம்")
    expect(a.locator("[data-testid=waiting]")).to_have_text("3 பேர் காத்திருக்கின்றனர்")
    expect(column(page, "dr-c").locator(".slot-time")).to_have_text("இன்று அமர்வு இல்லை")
    # Tamil's long words stay inside their columns, and the screen does not scroll.
    width, viewport = document_fits_the_viewport(page)
    assert width <= viewport, (width, viewport)
    overflowing = page.evaluate(
        "[...document.querySelectorAll('.doctor p, .doctor h2')].filter(e => e.offsetParent)"
        ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.className + ': ' + e.textContent)"
    )
    assert overflowing == [], overflowing
    expect_no_serious_axe_violation(page, "the board in Tamil at 1280x720")
    screenshot(page, tmp_path_factory, "board-tamil-1280x720")

    boards["dr-a"]["slots"][0] |= {"calling": 8, "next": [9, 10], "waiting": 2}
    boards["dr-b"]["slots"][0] |= {"calling": 3, "next": [], "waiting": 0}
    expect(page.locator("#announce span[lang=ta]")).to_have_text(
        "Dr Anjali Rao: டோக்கன் 8 அழைக்கப்படுகிறது. Dr Vikram Iyer: டோக்கன் 3 அழைக்கப்படுகிறது"
    )
    # Tamil is not spoken (no voice), English is, with its en-IN voice; the room-less doctor's own form.
    assert spoken(page) == [
        {"lang": "en-IN", "voice": "en-IN", "text": "Token 8, please go to room 12B, Dr Anjali Rao"},
        {"lang": "en-IN", "voice": "en-IN", "text": "Token 3, please go to Dr Vikram Iyer's room"},
    ]


# -- the status page --------------------------------------------------------------------------------------


@pytest.fixture
def tamil_page(browser: Browser, web_stack: LocalStack, page_problems: PageProblems) -> Iterator[Page]:
    """A phone whose browser is in Tamil (navigator.languages ta-IN; Accept-Language too)."""
    with checked_page(browser, web_stack, page_problems, "ta-IN", PHONE_SIZE) as opened:
        yield opened


def stored(page: Page) -> str:
    kept = page.evaluate(
        "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage), document.cookie])"
    )
    assert isinstance(kept, str)
    return kept


def test_the_status_page_follows_a_tamil_phone_and_keeps_only_the_language_chosen(
    tamil_page: Page, clinic: Clinic, tmp_path_factory: pytest.TempPathFactory
) -> None:
    page = tamil_page
    doctor = a_doctor(clinic, name="Dr Asha Rao", room="12B")
    slot = clinic.new_slot(doctor, starts_in=timedelta(minutes=-5))
    clinic.new_slot(doctor, starts_in=timedelta(minutes=-4))
    mine = clinic.book(slot["slotId"], f"ta-{uuid.uuid4().hex[:6]}")
    ahead = clinic.book(slot["slotId"], f"ta-{uuid.uuid4().hex[:6]}")
    clinic.check_in(mine["bookingId"])
    clinic.check_in(ahead["bookingId"])
    delayed = clinic.call("PUT", f"/slots/{slot['slotId']}/delay", "admin", {"delayed": True, "minutes": 20})
    assert delayed.status_code == 200, delayed.text
    code = mine["statusCode"]

    page.goto(f"/status.html#{code}")
    expect(page.locator("html")).to_have_attribute("lang", "ta")
    expect(page.locator("#token")).to_have_text("1")
    expect(page.locator("#token-label")).to_have_text("டோக்கன்")
    expect(page.locator("#state")).to_have_text("வருகை பதிவானது. அழைக்கும் வரை காத்திருக்கவும்.")
    expect(page.locator("#doctor")).to_have_text("Dr Asha Rao, அறை 12B")  # the name as the API has it
    expect(page.locator("#notice")).to_have_text("மருத்துவர் சுமார் 20 நிமிடம் தாமதம்.")
    expect(page.locator("#time")).to_contain_text("இன்று, ")
    expect(page.locator("#updated")).to_have_text(re.compile(r"^புதுப்பிப்பு: \d\d:\d\d$"))
    expect(page.locator("#lang-switch button[data-lang=ta]")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#lang-switch button[lang=hi]")).to_have_text("हिन्दी")
    text = visible_text(page)
    assert TAMIL.search(text) and not NATIVE_DIGITS.search(text), text
    width, viewport = document_fits_the_viewport(page)
    assert width <= viewport, (width, viewport)
    expect_no_serious_axe_violation(page, "the status page in Tamil")
    screenshot(page, tmp_path_factory, "status-tamil")
    assert stored(page) == '[[],[],""]'  # nothing until the patient chooses

    # Called: the turn in Tamil, said once to screen readers.
    called = clinic.call("POST", f"/slots/{slot['slotId']}/call-next", "reception")
    assert called.json()["called"]["bookingId"] == mine["bookingId"], called.text
    expect(page.locator("#state")).to_have_text(
        "உங்கள் முறை வந்துவிட்டது. இப்போதே உள்ளே செல்லவும்: Dr Asha Rao, அறை 12B.", timeout=10_000
    )
    expect(page.locator("#message")).to_have_text(re.compile(r"^டோக்கன் 1: உங்கள் முறை"))
    screenshot(page, tmp_path_factory, "status-tamil-called")

    # The switch: English now, and after a reload, though the phone is in Tamil; only the choice is stored.
    page.click("#lang-switch button[data-lang=en]")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#state")).to_have_text("It is your turn: please go in to Dr Asha Rao, room 12B now.")
    expect(page.locator("#token-label")).to_have_text("Token")
    page.reload()
    expect(page.locator("#state")).to_have_text("It is your turn: please go in to Dr Asha Rao, room 12B now.")
    expect(page.locator("#lang-switch button[data-lang=en]")).to_have_attribute("aria-pressed", "true")
    assert stored(page) == '[[["opd.lang","en"]],[],""]'
    assert code not in stored(page)
    expect_no_serious_axe_violation(page, "the status page switched to English")


# -- the app ----------------------------------------------------------------------------------------------


def booking_sms(clinic: Clinic, phone: str) -> list[str]:
    """The texts of the SMS about bookings (not sign-in codes) the local SNS sent to `phone`, once there is one."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        messages = clinic.session.get(clinic.stack.url + "/_local/sms", timeout=10).json()["messages"]
        texts = [m["text"] for m in messages if m["phone"] == phone and m.get("eventId") is not None]
        if texts:
            return texts
        time.sleep(0.3)
    raise AssertionError(f"no SMS about a booking reached {phone}")


def test_the_apps_switch_shows_hindi_keeps_it_and_books_in_hindi(
    page: Page, clinic: Clinic, tmp_path_factory: pytest.TempPathFactory
) -> None:
    doctor = a_doctor(clinic, name="Dr Asha Rao", room="12B")
    slot = clinic.new_slot(doctor, starts_in=timedelta(minutes=30))
    page.set_viewport_size(PHONE_SIZE)
    page.goto("/app.html")
    expect(page.locator("#signin-heading")).to_have_text("Sign in with your mobile number")  # an English browser
    hindi = page.locator("#lang-switch button[data-lang=hi]")
    expect(hindi).to_have_attribute("lang", "hi")
    expect(hindi).to_have_attribute("aria-pressed", "false")
    hindi.click()
    expect(page.locator("html")).to_have_attribute("lang", "hi")
    expect(page.locator("#signin-heading")).to_have_text("अपने मोबाइल नंबर से साइन इन करें")
    expect(page.locator("#send-code")).to_have_text("कोड भेजें")
    expect(page.locator("label[for=phone]")).to_have_text("मोबाइल नंबर")
    page.reload()
    expect(page.locator("#signin-heading")).to_have_text("अपने मोबाइल नंबर से साइन इन करें")
    expect(hindi).to_have_attribute("aria-pressed", "true")
    assert page.title() == "ओपीडी: टोकन बुक करें और अपनी बारी देखें"
    expect_no_serious_axe_violation(page, "the app's sign-in in Hindi")

    page.click("#send-code")  # no number: said in Hindi
    expect(page.locator("#error")).to_have_text("कृपया अपना मोबाइल नंबर लिखें, जैसे 98765 43210 या +91 98765 43210।")
    phone = a_phone()
    page.fill("#phone", phone)
    page.click("#send-code")
    expect(page.locator("#code")).to_be_focused()
    code = code_sent_to(clinic, phone)
    texts = [m["text"] for m in clinic.session.get(clinic.stack.url + "/_local/sms", timeout=10).json()["messages"]]
    assert any(code in text and DEVANAGARI.search(text) for text in texts)  # the code's SMS in Hindi
    page.fill("#code", code)
    page.click("#verify")
    expect(page.locator("#name-step")).to_be_visible()
    expect(page.locator("#message")).to_have_text("स्वागत है। कृपया अपना नाम बताएँ।")
    page.fill("#name", "Priya Sharma")
    page.click("#save-name")
    expect(page.locator("#book")).to_be_visible()
    patient = page.evaluate("JSON.parse(localStorage.getItem('opd.patient')).patientId")
    record = clinic.call("GET", f"/patients/{patient}", "reception").json()
    assert record["language"] == "hi", record  # a new patient's record: the language they chose

    booking = booked_in_app(page, clinic, doctor, slot)
    assert booking["language"] == "hi", booking
    assert any(DEVANAGARI.search(text) for text in booking_sms(clinic, phone))  # its SMS in Hindi
    expect(page.locator("#message")).to_contain_text("बुकिंग हो गई: टोकन 1, Dr Asha Rao, कमरा 12B")
    card = page.locator("#bookings li").first
    expect(card.locator(".booking-token")).to_have_text("टोकन 1")
    expect(card.locator(".booking-state")).to_have_text("बुकिंग हो गई। अस्पताल पहुँचकर रिसेप्शन पर चेक-इन करें।")
    expect(card.locator(".booking-estimate")).to_contain_text("अनुमानित बुलावा: लगभग")
    expect(card.locator("a.status-link")).to_have_text("स्थिति देखें")
    row = page.locator(f'#slots li[data-slot-id="{slot["slotId"]}"]')
    expect(row).to_contain_text("9 जगह खाली")
    text = visible_text(page)
    assert not NATIVE_DIGITS.search(text), text
    width, viewport = document_fits_the_viewport(page)
    assert width <= viewport, (width, viewport)
    expect_no_serious_axe_violation(page, "the app with a booking in Hindi")
    screenshot(page, tmp_path_factory, "app-hindi")

    # The confirmation in Hindi, and back to English at once (what was said too).
    card.locator("button[data-action=cancel]").click()
    expect(page.locator("#confirm-text")).to_have_text(
        "Dr Asha Rao, कमरा 12B का टोकन 1 रद्द करें? यह जगह किसी और को मिल जाएगी।"
    )
    page.click("#confirm-no")
    page.click("#lang-switch button[data-lang=en]")
    expect(card.locator(".booking-state")).to_have_text("Booked. Please check in at reception when you arrive.")
    expect(page.locator("#message")).to_contain_text("Booked: token 1 with Dr Asha Rao, room 12B")
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_the_app_in_tamil_fits_a_360_px_phone_with_44_px_targets(
    tamil_page: Page, clinic: Clinic, tmp_path_factory: pytest.TempPathFactory
) -> None:
    page = tamil_page
    doctor = a_doctor(clinic, name="Dr Vikram Iyer", room="OPD-3")
    full = clinic.new_slot(doctor, starts_in=timedelta(hours=1), baseCapacity=1, premiumBuffer=0, emergencyBuffer=0)
    clinic.book(full["slotId"], f"walkin-{uuid.uuid4().hex[:6]}")
    clinic.new_slot(doctor, starts_in=timedelta(hours=2))
    phone = a_phone()
    clinic.register("Kavya Subramanian", phone)
    page.goto("/app.html")
    expect(page.locator("html")).to_have_attribute("lang", "ta")
    expect(page.locator("#signin-heading")).to_have_text("உங்கள் மொபைல் எண் மூலம் உள்நுழையவும்")
    page.fill("#phone", phone)
    page.click("#send-code")
    page.fill("#code", code_sent_to(clinic, phone))
    page.click("#verify")
    expect(page.locator("#book")).to_be_visible()
    department = clinic.call("GET", f"/doctors/{doctor}").json()["department"]
    page.select_option("#department", department)
    page.select_option("#doctor", doctor)
    row = page.locator(f'#slots li[data-slot-id="{full["slotId"]}"]')
    expect(row).to_contain_text("நிரம்பியது: காத்திருப்புப் பட்டியலில் சேரலாம்")
    row.locator("button[data-action=waitlist]").click()
    expect(page.locator("#message")).to_have_text("நீங்கள் காத்திருப்புப் பட்டியலில் உள்ளீர்கள், எண் 1. இடம் கிடைத்தால் SMS வரும்.")
    expect(page.locator("#bookings li .booking-token")).to_have_text("காத்திருப்புப் பட்டியல்")
    for zoom in ("100%", "200%"):  # also with the text at 200 %
        page.evaluate(f"document.documentElement.style.fontSize = '{zoom}'")
        width, viewport = document_fits_the_viewport(page)
        assert width <= viewport, (zoom, width, viewport)
    page.evaluate("document.documentElement.style.fontSize = ''")
    assert small_targets(page) == []
    expect_no_serious_axe_violation(page, "the app in Tamil")
    screenshot(page, tmp_path_factory, "app-tamil")
