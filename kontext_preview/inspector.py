"""A server-side look at a preview: what a person opening it would see.

:class:`Inspector` keeps one headless Chromium (Playwright, started on first use) and
opens a session's preview through this process's own preview proxy, in a fresh browser
context per look: the page's screenshot (PNG), title and visible text, its console
messages, uncaught errors and failed requests, and timings. Bounded:
``inspect_pages`` looks at once, ``inspect_queue`` waiting (beyond: 429), one look per
session at a time, ``inspect_timeout_seconds`` each.

While it looks, the page is a page of the session like any other: its client module
reports the app's errors and console to the session's event stream. That is what
``inspect_after_update`` uses: after an update no open page applied, a look (without a
picture) makes the errors of that update reach the stream even when nobody watches.

The browser runs untrusted preview code with this process's network reach (Chromium's
own sandbox is off when the service runs as root); see docs/SECURITY.md.
"""

import asyncio
import base64
import contextlib
import json
import logging
import shutil
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from kontext_preview.config import Settings
from kontext_preview.errors import InspectBusy, InspectUnavailable, KontextError
from kontext_preview.schemas import (
    ConsoleMessage,
    FailedRequest,
    InspectPreviewRequest,
    InspectPreviewResponse,
    PageError,
)

log = logging.getLogger(__name__)

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TEXT_CHARS = 4000
CLIENT_MODULE = "/@kontext/client"  # the preview's client module (sandbox-images/agent)
MAX_ITEMS = 200  # console messages, errors and failed requests kept per look, each


class Inspector:
    def __init__(self, settings: Settings, open_pages: Callable[[str], int] = lambda _: 0):
        """``open_pages``: how many pages of a session are connected (the proxy counts)."""
        self.settings = settings
        self.open_pages = open_pages
        self.chromium = settings.inspect_chromium or next(
            (found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None
        )
        self._slots = asyncio.Semaphore(settings.inspect_pages)
        self._waiting = 0
        self._per_session: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._playwright: Any = None
        self._browser: Any = None
        self._starting = asyncio.Lock()
        self._background: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()

    async def inspect(
        self, session_id: str, request: InspectPreviewRequest, vite_root: str = ""
    ) -> InspectPreviewResponse:
        """Open the session's preview and report what it shows. Raises InspectUnavailable
        (no Chromium), InspectBusy (the queue is full) or KontextError 504 (timeout)."""
        if not self.chromium:
            raise InspectUnavailable(
                "no Chromium to look with: install Debian's chromium, or set "
                "KONTEXT_INSPECT_CHROMIUM to a Chromium executable"
            )
        if self._waiting >= self.settings.inspect_queue + self.settings.inspect_pages:
            raise InspectBusy(
                f"{self._waiting} looks are waiting or running (KONTEXT_INSPECT_PAGES + "
                "KONTEXT_INSPECT_QUEUE); retry in a moment"
            )
        began = time.perf_counter()
        self._waiting += 1
        try:
            async with self._per_session[session_id], self._slots:
                queued_ms = _ms(began)
                try:
                    async with asyncio.timeout(self.settings.inspect_timeout_seconds):
                        result = await self._look(session_id, request, vite_root)
                except TimeoutError:
                    raise KontextError(
                        f"the page did not settle within {self.settings.inspect_timeout_seconds:g}"
                        " s (KONTEXT_INSPECT_TIMEOUT_SECONDS)",
                        status_code=504,
                        code="inspect_timeout",
                    ) from None
        finally:
            self._waiting -= 1
            if not self._per_session[session_id].locked():
                self._per_session.pop(session_id, None)
        result.timings = {"queuedMs": queued_ms, **result.timings, "totalMs": _ms(began)}
        return result

    def look_after_update(self, session_id: str) -> None:
        """After an update: a look in the background if no page of the session is open
        (one at a time per session; an update during a look brings one more after it)."""
        if not self.settings.inspect_after_update or not self.chromium:
            return
        if self.open_pages(session_id) > 0:
            return
        running = self._background.get(session_id)
        if running is not None and not running.done():
            self._again.add(session_id)
            return
        self._background[session_id] = asyncio.create_task(self._look_behind(session_id))

    async def _look_behind(self, session_id: str) -> None:
        while True:
            self._again.discard(session_id)
            try:
                await self.inspect(session_id, InspectPreviewRequest(screenshot=False))
            except KontextError as exc:
                log.info("session %s: the look after an update: %s", session_id, exc.message)
            except Exception:
                log.exception("session %s: the look after an update failed", session_id)
            if session_id not in self._again:
                self._background.pop(session_id, None)
                return

    async def aclose(self) -> None:
        for task in list(self._background.values()):
            task.cancel()
        for task in list(self._background.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._browser is not None:
            with contextlib.suppress(Exception):
                await self._browser.close()
        if self._playwright is not None:
            with contextlib.suppress(Exception):
                await self._playwright.stop()
        self._browser = self._playwright = None

    async def _chromium(self) -> Any:
        async with self._starting:
            if self._browser is None or not self._browser.is_connected():
                from playwright.async_api import async_playwright

                if self._playwright is None:
                    self._playwright = await async_playwright().start()
                domain = self.settings.preview_domain
                args = list(CHROMIUM_ARGS)
                if domain != "localhost":  # *.localhost is the loopback already
                    args.append(f"--host-resolver-rules=MAP *.{domain} {self._host()}")
                self._browser = await self._playwright.chromium.launch(
                    executable_path=self.chromium, args=args, headless=True
                )
                log.info("inspector: Chromium started (%s)", self.chromium)
            return self._browser

    def _host(self) -> str:
        host = self.settings.host
        return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host

    async def _look(
        self, session_id: str, request: InspectPreviewRequest, vite_root: str
    ) -> InspectPreviewResponse:
        settings = self.settings
        browser = await self._chromium()
        path = request.path if request.path.startswith("/") else "/" + request.path
        url = f"http://{settings.preview_host(session_id)}:{settings.port}{path}"
        context = await browser.new_context(
            viewport={"width": request.width, "height": request.height},
            service_workers="block",
        )
        console: list[ConsoleMessage] = []
        errors: list[PageError] = []
        failed: list[FailedRequest] = []
        traffic = _Traffic()

        def on_console(call: dict[str, Any]) -> None:
            """Chromium's Runtime.consoleAPICalled: where it was logged from is the first
            frame outside the preview's client module (which wraps console.warn/error)."""
            if len(console) >= MAX_ITEMS:
                return
            frames = (call.get("stackTrace") or {}).get("callFrames") or []
            frame: dict[str, Any] = next(
                (f for f in frames if CLIENT_MODULE not in f.get("url", "")), {}
            )
            served = frame.get("url") or None
            console.append(
                ConsoleMessage(
                    level=str(call.get("type", "log")),
                    text=" ".join(_remote_text(a) for a in call.get("args", []))[:4000],
                    url=served,
                    file=_project_file(served, vite_root),
                    line=frame["lineNumber"] + 1 if "lineNumber" in frame else None,
                    column=frame["columnNumber"] + 1 if "columnNumber" in frame else None,
                )
            )

        def on_error(error: Any) -> None:
            if len(errors) < MAX_ITEMS:
                errors.append(PageError(message=str(error.message)[:4000], stack=error.stack))

        def on_failed(request_: Any) -> None:
            traffic.ended(request_)
            if len(failed) < MAX_ITEMS:
                failed.append(
                    FailedRequest(
                        url=request_.url, method=request_.method, failure=request_.failure
                    )
                )

        def on_response(response: Any) -> None:
            if response.status >= 400 and len(failed) < MAX_ITEMS:
                failed.append(
                    FailedRequest(
                        url=response.url, method=response.request.method, status=response.status
                    )
                )

        try:
            page = await context.new_page()
            devtools = await context.new_cdp_session(page)
            devtools.on("Runtime.consoleAPICalled", on_console)
            await devtools.send("Runtime.enable")
            page.on("pageerror", on_error)
            page.on("request", traffic.started)
            page.on("requestfinished", traffic.ended)
            page.on("requestfailed", on_failed)
            page.on("response", on_response)
            began = time.perf_counter()
            response = await page.goto(url, wait_until="load")
            load_ms = _ms(began)
            await traffic.settle(request.settleMs / 1000)
            title = await page.title()
            text = await page.evaluate(
                f"document.body ? document.body.innerText.slice(0, {TEXT_CHARS}) : ''"
            )
            shot = None
            width, height = request.width, request.height
            if request.screenshot:
                png = await page.screenshot(full_page=request.fullPage, type="png")
                shot = base64.b64encode(png).decode()
                width, height = _png_size(png)
            return InspectPreviewResponse(
                url=url,
                status=response.status if response is not None else None,
                title=title,
                text=text,
                screenshot=shot,
                width=width,
                height=height,
                console=console,
                errors=errors,
                failedRequests=failed,
                timings={"loadMs": load_ms},
            )
        finally:
            with contextlib.suppress(Exception):
                await context.close()


class _Traffic:
    """The page's requests in flight, to wait for a quiet moment."""

    def __init__(self) -> None:
        self.in_flight: set[Any] = set()
        self.quiet = asyncio.Event()
        self.quiet.set()
        self.busy = asyncio.Event()

    def started(self, request: Any) -> None:
        self.in_flight.add(request)
        self.quiet.clear()
        self.busy.set()

    def ended(self, request: Any) -> None:
        self.in_flight.discard(request)
        if not self.in_flight:
            self.quiet.set()

    async def settle(self, seconds: float) -> None:
        """Until no request has been in flight for ``seconds`` (the caller bounds it)."""
        while True:
            await self.quiet.wait()
            self.busy.clear()
            try:
                await asyncio.wait_for(self.busy.wait(), seconds)
            except TimeoutError:
                return


def _remote_text(value: dict[str, Any]) -> str:
    """A console argument as Chromium's DevTools protocol describes it (a RemoteObject)."""
    if value.get("type") == "string":
        return str(value.get("value", ""))
    if "value" in value:
        return json.dumps(value["value"])
    preview = value.get("preview")
    if preview and preview.get("properties") is not None:
        fields = ", ".join(f"{p['name']}: {p.get('value', '')}" for p in preview["properties"])
        return "{" + fields + ("…" if preview.get("overflow") else "") + "}"
    return str(value.get("description") or value.get("type", ""))


def _project_file(url: str | None, vite_root: str) -> str | None:
    """A served module's project file: ``/src/App.tsx`` under the app's folder."""
    if not url:
        return None
    parts = urlsplit(url)
    if not parts.path.startswith("/") or parts.path.startswith(("/@", "/node_modules/")):
        return None
    return "/".join(p for p in (vite_root.strip("/"), parts.path.lstrip("/")) if p)


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (bytes 16-24, big-endian)."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
