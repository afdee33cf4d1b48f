"""Headless Chromium for the report tests: one browser per test module, one fresh context per report.

The browser is Debian's chromium (/usr/bin/chromium; `.ci/run` installs it), driven by Playwright
without `playwright install`. Without it these tests skip, unless IML4E_REQUIRE_BROWSER is set (CI
sets it): then a missing browser fails them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

# Fixtures imported here are used by the tests of this folder: each report is made from the same small
# inputs as the unit tests of the code that writes it (F401: pytest finds fixtures by name).
from ..unit.iml4e_components.error_detection.conftest import small_kb, small_kb_file  # noqa: F401
from ..unit.iml4e_components.lineage.test_graph import two_runs as lineage_runs  # noqa: F401
from ..unit.iml4e_components.model_card.conftest import complete_card  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_ENV = "IML4E_REQUIRE_BROWSER"
VIEWPORT = {"width": 1400, "height": 900}
#: Flags that keep Chromium's own connections (component updates, sync, field trials) off: without
#: them they are refused here and would look like requests of the page.
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: A screenshot with fewer distinct colours than this is blank (white page, or one flat colour).
MIN_COLOURS = 16


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{reason}, and {REQUIRE_ENV} is set: the browser tests must run here", pytrace=False)
    pytest.skip(f"{reason}; install Debian's chromium (apt-get install chromium) to run the browser tests")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One browser for a test module. Not for the session: while Playwright's sync API is open, the
    worker's thread counts as running an event loop, so a later test's asyncio.run() would fail."""
    if not CHROMIUM.is_file():
        _unavailable(f"no browser at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (make install)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        launched.close()


@dataclass
class RenderedReport:
    """What the browser saw when it opened one report."""

    url: str
    text: str
    title: str
    colours: int
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    #: The text of every SVG <text> element (chart and graph labels), in document order.
    svg_labels: list[str] = field(default_factory=list)
    #: SVG <text> elements whose drawn box leaves their <svg> or the shape they label.
    clipped_labels: list[str] = field(default_factory=list)

    def assert_renders_offline(self, expect: list[str]) -> None:
        """The checks every report passes: drawn, no request, no console error, the key text shown."""
        assert self.colours >= MIN_COLOURS, f"{self.url} looks blank ({self.colours} colours)"
        assert self.requests == [], f"{self.url} requested {self.requests}; reports must work offline"
        assert self.console_errors == [], f"{self.url} logged console errors: {self.console_errors}"
        assert self.page_errors == [], f"{self.url} raised in the page: {self.page_errors}"
        missing = [text for text in expect if text not in self.text]
        assert not missing, f"{self.url} does not show {missing}"


#: Every SVG text's box against its SVG's box, and against the <rect> before it in the same <g>.
_CLIPPED_LABELS_JS = """() => {
  const out = [];
  for (const text of document.querySelectorAll('svg text')) {
    const svg = text.ownerSVGElement.getBoundingClientRect();
    const box = text.getBoundingClientRect();
    const label = text.textContent;
    if (!label.trim()) continue;  // an empty detail line draws nothing
    if (box.left < svg.left - 1 || box.right > svg.right + 1 || box.top < svg.top - 1 || box.bottom > svg.bottom + 1) {
      out.push(label + ' (outside its chart)');
      continue;
    }
    const rect = text.parentElement && text.parentElement.tagName === 'g' ? text.parentElement.querySelector('rect') : null;
    if (rect) {
      const frame = rect.getBoundingClientRect();
      if (box.left < frame.left - 1 || box.right > frame.right + 1) out.push(label + ' (wider than its box)');
    }
  }
  return out;
}"""


@pytest.fixture
def open_report(browser: Any, tmp_path: Path) -> Callable[..., RenderedReport]:
    """Open a report file in a fresh browser context; wait until `expect` strings are all shown.

    Only the file itself may be requested (and data: URLs, which never leave the page); every other
    request is recorded and aborted, so a report that reaches for a CDN fails offline as it would on a
    user's machine without network.
    """

    def open_file(path: Path, expect: list[str] = (), timeout_ms: float = 20_000) -> RenderedReport:  # type: ignore[assignment]
        from PIL import Image
        from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

        url = path.resolve().as_uri()
        context = browser.new_context(viewport=VIEWPORT, service_workers="block")
        requests: list[str] = []
        console_errors: list[str] = []
        page_errors: list[str] = []

        def route(request_route: Any) -> None:
            if request_route.request.url == url or request_route.request.url.startswith("data:"):
                request_route.continue_()
            else:
                request_route.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page_errors.append(str(e)))
        try:
            page.goto(url, wait_until="load", timeout=timeout_ms)
            if expect:  # scripted reports draw after load; a missing text is reported by the assert
                with contextlib.suppress(PlaywrightTimeoutError):
                    page.wait_for_function(
                        "texts => texts.every(t => document.body.innerText.includes(t))",
                        arg=list(expect),
                        timeout=timeout_ms,
                    )
            shot = Image.open(BytesIO(page.screenshot(full_page=True))).convert("RGB")
            colours = shot.getcolors(maxcolors=1 << 24) or []
            shot.save(tmp_path / f"{path.stem}.png")  # left in the test's tmp_path for a look
            return RenderedReport(
                url=url,
                text=page.inner_text("body"),
                title=page.title(),
                colours=len(colours),
                requests=[r for r in requests if r != url and not r.startswith("data:")],
                console_errors=console_errors,
                page_errors=page_errors,
                svg_labels=page.eval_on_selector_all("svg text", "nodes => nodes.map(n => n.textContent)"),
                clipped_labels=page.evaluate(_CLIPPED_LABELS_JS),
            )
        finally:
            context.close()

    return open_file
