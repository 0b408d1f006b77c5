"""Pictures of the pages at a moment of the day: the waiting-room board (in Hindi and English, as `?lang=hi,en`
shows them in turn), the desk, the patient app and a status page, in Debian's chromium.

Playwright drives /usr/bin/chromium (`make chromium` installs it; never `playwright install`), with the
flags of the browser tests (tests/browser/conftest.py). The replayed day runs in a minute of real time,
so each page is shown the clinic's time of the moment (Playwright's clock: `Date.now()` reads it, the
pages' timers run as usual); what the pages show comes from the API as it is at that moment. Waits are
locator assertions: the pages' CSP (`script-src 'self'`) refuses `wait_for_function`'s evaluated strings.

Playwright's sync API runs on a thread of the camera's own: it refuses a thread whose asyncio loop is
running, such as a pytest worker where the browser tests' session Playwright is open.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

CHROMIUM = Path(os.environ.get("OPD_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000
BOARD_SIZE = {"width": 1920, "height": 1080}  # a waiting-room screen
DESK_SIZE = {"width": 1440, "height": 900}  # a reception PC
PHONE_SIZE = {"width": 360, "height": 640}  # a patient's cheap phone
SLIP_SIZE = {"width": 220, "height": 300}  # 58 mm thermal paper at 96 px per inch; the picture grows to the slip
BOARD_LANG_EVERY = 3  # seconds the board shows each of its languages in the pictures


class BrowserMissing(RuntimeError):
    pass


class Camera:
    """One chromium for the day's pictures; a fresh context (storage, clock) for each."""

    def __init__(self, base_url: str, zone: str) -> None:
        self.base_url = base_url
        self.zone = zone  # the clinic's IANA zone: the pages show the clinic's wall clock
        self._playwright: Any = None
        self._browser: Any = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="camera")

    def __enter__(self) -> Camera:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _open(self) -> Any:
        if self._browser is None:
            if not os.access(CHROMIUM, os.X_OK):
                raise BrowserMissing(
                    f"the demo's screenshots need Debian's chromium at {CHROMIUM}: `make chromium` installs it "
                    "(or run `python -m demo --no-screenshots`)"
                )
            from playwright.sync_api import sync_playwright

            self._playwright = sync_playwright().start()
            args = CHROMIUM_ARGS + (["--no-sandbox"] if os.geteuid() == 0 else [])  # chromium's sandbox refuses root
            self._browser = self._playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        return self._browser

    def _on_thread[T](self, work: Callable[[], T]) -> T:
        return self._thread.submit(work).result()

    def close(self) -> None:
        self._on_thread(self._close)
        self._thread.shutdown()

    def _close(self) -> None:
        if self._browser is not None:
            self._browser.close()
            self._browser = None
        if self._playwright is not None:
            self._playwright.stop()
            self._playwright = None

    def _page(self, at: datetime | None, size: dict[str, int]) -> Any:
        """A fresh page showing the clinic's time `at` (None: the real clock)."""
        context = self._open().new_context(base_url=self.base_url, timezone_id=self.zone, locale="en-GB", viewport=size)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        if at is not None:
            page.clock.set_fixed_time(at)
        return page

    def board(self, doctors: list[str], day: str, at: datetime, path: Path, hindi: Path | None = None) -> list[Path]:
        """The waiting-room board of the doctors in Hindi and English (`?lang=hi,en`, each in turn), once every
        column has its first answer: `path` as it shows English, and first `hindi` (when given) as it shows Hindi."""
        return self._on_thread(lambda: self._board(doctors, day, at, path, hindi))

    def counter_board(self, doctors: list[str], counters: list[str], path: Path) -> Path:
        """The waiting-room board with the registration counters beside the doctors (`?counters=`), in English, today
        on the real clock: a counter's tokens are numbered by the real date (the demo's doctors work tomorrow)."""
        return self._on_thread(lambda: self._counter_board(doctors, counters, path))

    def slip(self, booking_id: str, path: Path, user: str = "desk-1") -> Path:
        """The token slip the desk prints for a booking, as a 58 mm thermal printer gets it (print media). On the
        real clock: the desk's sign-in expires an hour from now, and a page told tomorrow's time would be signed out."""
        return self._on_thread(lambda: self._slip(booking_id, path, user))

    def reports(self, first: str, last: str, path: Path, user: str = "admin-1") -> Path:
        """The admin's reports page over the days `first`..`last`: its charts drawn and its table (real clock)."""
        return self._on_thread(lambda: self._reports(first, last, path, user))

    def desk(self, doctor: str, day: str, slot_id: str, at: datetime, path: Path, user: str = "desk-1") -> Path:
        """The desk signed in as reception, the doctor's day shown and the slot selected with its queue."""
        return self._on_thread(lambda: self._desk(doctor, day, slot_id, at, path, user))

    def app(
        self, phone: str, code_of: Callable[[str], str], at: datetime, path: Path, hindi: Path | None = None
    ) -> list[Path]:
        """The patient app on a phone: signed in by `phone` and the code the SMS brought (`code_of(phone)`),
        the patient's bookings shown: `path`, then `hindi` (when given) after the switch to हिन्दी."""
        return self._on_thread(lambda: self._app(phone, code_of, at, path, hindi))

    def status(self, code: str, at: datetime, path: Path, tamil: Path | None = None) -> list[Path]:
        """A booking's status page on a phone, as its SMS link opens it: `path`, then `tamil` (when given) after
        the switch to தமிழ்."""
        return self._on_thread(lambda: self._status(code, at, path, tamil))

    @staticmethod
    def _switched(page: Any, language: str, target: Path, full_page: bool) -> Path:
        """The page after its language switch's button for `language`: the page's texts in it, then its picture."""
        from playwright.sync_api import expect

        page.click(f"#lang-switch button[data-lang={language}]")
        expect(page.locator("html")).to_have_attribute("lang", language)
        page.screenshot(path=str(target), full_page=full_page)
        return target

    def _app(
        self, phone: str, code_of: Callable[[str], str], at: datetime, path: Path, hindi: Path | None
    ) -> list[Path]:
        from playwright.sync_api import expect

        page = self._page(at, PHONE_SIZE)
        taken = [path]
        try:
            page.goto("/app.html")
            page.fill("#phone", phone)
            page.click("#send-code")
            expect(page.locator("#code")).to_be_focused()
            page.fill("#code", code_of(phone))
            page.click("#verify")
            # Cold local Lambda environments of the routes the app reads first: allow them the camera's wait.
            expect(page.locator("#bookings li").first).to_be_visible(timeout=TIMEOUT_MS)
            expect(page.locator("#slots-heading")).not_to_be_empty(timeout=TIMEOUT_MS)
            page.screenshot(path=str(path), full_page=True)
            if hindi is not None:
                taken.append(self._switched(page, "hi", hindi, full_page=True))
        finally:
            page.context.close()
        return taken

    def _status(self, code: str, at: datetime, path: Path, tamil: Path | None) -> list[Path]:
        from playwright.sync_api import expect

        page = self._page(at, PHONE_SIZE)
        taken = [path]
        try:
            page.goto(f"/status.html#{code}")
            expect(page.locator("#updated")).to_have_text(re.compile(r"^Updated"), timeout=TIMEOUT_MS)
            page.screenshot(path=str(path))
            if tamil is not None:
                taken.append(self._switched(page, "ta", tamil, full_page=False))
        finally:
            page.context.close()
        return taken

    def _board(self, doctors: list[str], day: str, at: datetime, path: Path, hindi: Path | None) -> list[Path]:
        from playwright.sync_api import expect

        page = self._page(at, BOARD_SIZE)
        taken = []
        try:
            # Each language BOARD_LANG_EVERY seconds (the board's default is 8): the clock is fixed, its timers run.
            page.goto(f"/board.html?doctors={','.join(doctors)}&date={day}&lang=hi,en&langEvery={BOARD_LANG_EVERY}")
            conn = page.locator("#conn")
            expect(conn).to_have_attribute("data-state", "ok")
            expect(conn).to_have_text(re.compile(r"\d\d:\d\d:\d\d"))  # "Last updated hh:mm:ss", in either language
            if page.locator("#enable-sound").is_visible():  # staff turn the announcements on once, at setup
                page.click("#enable-sound")
            for target, code, label in ((hindi, "hi", "वर्तमान टोकन"), (path, "en", "Now calling")):
                if target is None:
                    continue
                expect(page.locator("html")).to_have_attribute("lang", code, timeout=TIMEOUT_MS)
                if page.locator(".calling-label").count():
                    expect(page.locator(".calling-label").first).to_have_text(label)
                page.screenshot(path=str(target))
                taken.append(target)
        finally:
            page.context.close()
        return taken

    def _counter_board(self, doctors: list[str], counters: list[str], path: Path) -> Path:
        from playwright.sync_api import expect

        page = self._page(None, BOARD_SIZE)
        try:
            page.goto(f"/board.html?doctors={','.join(doctors)}&counters={','.join(counters)}&lang=en")
            expect(page.locator("#conn")).to_have_attribute("data-state", "ok")
            expect(page.locator(f'[data-counter-id="{counters[0]}"] .calling-token')).not_to_be_empty()
            page.screenshot(path=str(path))
        finally:
            page.context.close()
        return path

    def _slip(self, booking_id: str, path: Path, user: str) -> Path:
        from playwright.sync_api import expect

        page = self._page(None, DESK_SIZE)
        try:
            self._signed_in(page, user)  # the slip reads the booking with the desk's token (the tab's session)
            page.set_viewport_size(SLIP_SIZE)
            page.emulate_media(media="print")
            page.goto(f"/slip.html?booking={booking_id}&paper=58&print=0")
            expect(page.locator("body")).to_have_attribute("data-state", "ready")
            page.screenshot(path=str(path), full_page=True)
        finally:
            page.context.close()
        return path

    def _reports(self, first: str, last: str, path: Path, user: str) -> Path:
        from playwright.sync_api import expect

        page = self._page(None, DESK_SIZE)
        try:
            self._signed_in(page, user, role="admin")  # the desk's session, as its Reports link opens the page
            page.goto(f"/reports.html?from={first}&to={last}")
            expect(page.locator("#days-body tr[data-doctor-id]").first).to_be_visible()
            expect(page.locator("body")).to_have_attribute("data-charts", "drawn")
            page.screenshot(path=str(path), full_page=True)
        finally:
            page.context.close()
        return path

    @staticmethod
    def _signed_in(page: Any, user: str, role: str = "reception") -> None:
        page.goto("/desk.html")
        page.select_option("#signin-role", role)
        page.fill("#signin-user", user)
        page.click("#signin")
        page.wait_for_selector("#main:not([hidden])")

    def _desk(self, doctor: str, day: str, slot_id: str, at: datetime, path: Path, user: str) -> Path:
        from playwright.sync_api import expect

        page = self._page(at, DESK_SIZE)
        try:
            self._signed_in(page, user)
            page.fill("#doctor", doctor)
            page.fill("#day", day)
            page.click("#load-day")
            page.click(f'tr[data-slot-id="{slot_id}"] button[data-action=select]')
            page.wait_for_selector("#queue-body tr[data-booking-row]")
            expect(page.locator("#refresh-state")).to_have_text(re.compile(r"^Updated"))
            page.screenshot(path=str(path), full_page=True)
        finally:
            page.context.close()
        return path
