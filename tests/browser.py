"""Headless Debian chromium driven by Playwright: a page, what it logged, and every request it made.

Playwright's own browser downloads are not used (`playwright install` reaches a CDN that CI may not):
`.ci/chromium` installs Debian's `chromium`, and Playwright launches that binary.
"""

from __future__ import annotations

import shutil
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, field

from playwright.sync_api import Browser, ConsoleMessage, Page, Request, ViewportSize, sync_playwright

CHROMIUM = shutil.which("chromium")
VIEWPORT = ViewportSize(width=1200, height=800)


@dataclass
class Tab:
    page: Page
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions
    requests: list[str] = field(default_factory=list)  # every URL the page asked for

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} at {message.location.get('url', '')}")

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)

    def outside(self, *schemes: str) -> list[str]:
        """The requests whose URL starts with none of `schemes` (e.g. "file:", "data:")."""
        return [url for url in self.requests if not url.startswith(schemes)]


@dataclass
class Browsing:
    chromium: Browser

    @contextmanager
    def tab(self) -> Generator[Tab]:
        """A fresh context (no shared cache or storage) and page, its errors and requests recorded."""
        context = self.chromium.new_context(viewport=VIEWPORT)
        page = context.new_page()
        tab = Tab(page)
        page.on("console", tab._console)
        page.on("pageerror", lambda error: tab.errors.append(f"page: {error}"))
        page.on("request", tab._request)
        try:
            yield tab
        finally:
            context.close()


@contextmanager
def browser() -> Generator[Browsing]:
    """One chromium for a module's tests; `--no-sandbox` because tests run as root in CI."""
    assert CHROMIUM, "no chromium on PATH: .ci/chromium installs it"
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield Browsing(chromium)
        finally:
            chromium.close()
