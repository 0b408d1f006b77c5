"""Browser tests: the pages of web/ in Debian's chromium (Playwright), against the whole local stack with auth on.

One stack and one browser for the session; each test gets a fresh browser context (its own storage) and a
page that fails the test on any JavaScript error or any console error other than an HTTP error answer
(which the pages show in words, and which the tests check). Every module here marks its tests with the
xdist group "browser", so on `-n 2 --dist loadgroup` they run on one worker and share the stack.

The Playwright sync API runs its own event loop, on the worker's main thread, only while a test drives
the page; no fixture here is async, and no test here is.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, ViewportSize, expect, sync_playwright

from demo.screens import CHROMIUM, CHROMIUM_ARGS  # one place says how Debian's chromium is started
from devserver.runner import LocalStack, start_stack
from tests.browser.support import Clinic

TIMEOUT_MS = 15_000  # a cold Lambda environment of the local runner, on a busy two-core machine


@pytest.fixture(scope="session")
def web_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    database = f"opd_browser_{uuid.uuid4().hex[:12]}"
    with start_stack(
        port=0, data_dir=tmp_path_factory.mktemp("browser-stack"), auth=True, database=database, concurrency=4
    ) as started:
        yield started


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"the browser tests need Debian's chromium at {CHROMIUM}, and it is missing: `make chromium` "
            "(apt-get install -y chromium) installs it; never `playwright install`",
            pytrace=False,
        )
    args = CHROMIUM_ARGS + (["--no-sandbox"] if os.geteuid() == 0 else [])  # chromium's sandbox refuses root
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
    yield launched
    launched.close()


@dataclass
class PageProblems:
    """What went wrong inside the page while a test drove it."""

    errors: list[str] = field(default_factory=list)  # uncaught exceptions, rejected promises
    console: list[str] = field(default_factory=list)  # console.error, CSP violations, ...

    def on_console(self, message: ConsoleMessage) -> None:
        # "Failed to load resource: ... 409 (Conflict)": an HTTP error answer, which the page shows in words.
        if message.type == "error" and not message.text.startswith("Failed to load resource:"):
            self.console.append(message.text)


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@contextmanager
def checked_page(
    browser: Browser, web_stack: LocalStack, page_problems: PageProblems, locale: str, viewport: ViewportSize
) -> Iterator[Page]:
    """A page in a fresh browser context (its own storage), failing the test on any error the page reports.
    UTC, as the local stack's clinic: the day the desk shows is the day the API reads."""
    context = browser.new_context(base_url=web_stack.url, timezone_id="UTC", locale=locale, viewport=viewport)
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    opened.on("pageerror", lambda error: page_problems.errors.append(f"{error.name}: {error.message}"))
    opened.on("console", page_problems.on_console)
    yield opened
    context.close()
    problems = page_problems.errors + page_problems.console
    if problems:
        pytest.fail("the page reported errors:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def page(browser: Browser, web_stack: LocalStack, page_problems: PageProblems) -> Iterator[Page]:
    with checked_page(browser, web_stack, page_problems, "en-GB", ViewportSize(width=1280, height=900)) as opened:
        yield opened


expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture
def clinic(web_stack: LocalStack) -> Clinic:
    return Clinic(web_stack)
