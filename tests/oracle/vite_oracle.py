"""A Vite oracle for the change classifier: what does a PLAIN Vite dev server do with an edit?

:class:`PlainVite` runs the real ``vite`` CLI (its own file watcher, no kontext code) on a copy
of the oracle project (:mod:`tests.oracle.project`) with the app open in Chromium, applies an
edit to the files and records Vite's reaction from the page: the messages of the ``vite-hmr``
socket (captured by wrapping ``window.WebSocket`` in an init script), main-frame navigations
(a reload), socket closes, and Vite's own log. :meth:`PlainVite.apply` waits until something
arrived and then a quiet period, or a maximum with nothing at all; the waits measure, they
are no pass/fail thresholds. The outcome, from most to least disruptive:

- ``restart``: Vite restarted its server (vite.config or what it imports, ``.env`` files of
  its envDir); the client reconnects and reloads.
- ``full-reload``: a ``full-reload`` payload or a navigation (no HMR boundary, index.html).
- ``js-update``: an ``update`` with a module that re-runs JavaScript (the modules listed).
- ``css-update``: only stylesheets changed in place: ``css-update`` items (``<link>``
  stylesheets) or ``js-update`` items of a plain stylesheet that accepts itself — Vite's
  route for CSS imported from JS, whose module only swaps its ``<style>``; no component
  module runs again.
- ``error``: only an ``error`` payload, an error in Vite's log, or a failed restart.
- ``nothing``.

**The comparison rule.** Our strategy promises the page a disruption level:
``css-injection`` (the stylesheet class) promises "CSS only: no module re-run, no reload";
``build-config`` and ``dependencies`` promise "restart or reload"; every other class promises
"Vite's HMR": a js-update or, where Vite finds no boundary, its full reload (both fine).
A **divergence** is where we promise less disruption than Vite gives: css-injection where
Vite does a js-update, full reload or restart; an HMR class where Vite restarts. The other
way round (Vite does less than promised: a css-update for component-structure, nothing for
build-config) agrees, with a note: **over-cautious**, counted apart. A result we cannot
trust is **inconclusive**, with the reason: Vite reported an error (a module that did not
compile, e.g. no sass installed, has no HMR behaviour to compare), Vite did nothing although
the file was in the page's module graph, or the page never loaded the file.

Run the whole corpus without pytest: ``python -m tests.oracle.vite_oracle --table OUT.md``.
"""

import argparse
import contextlib
import json
import re
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tests.oracle.project import ROOT, CasePlan, Content, make_project

KINDS = ("restart", "full-reload", "js-update", "css-update", "error", "nothing")
QUIET_SECONDS = 0.8  # nothing new for this long after a reaction: Vite is done
NOTHING_SECONDS = 3.0  # no reaction at all for this long: Vite does nothing
RESTART_SECONDS = 20.0  # a restart: until the page is back on the new server
POLL_MS = 50
VITE_COMMAND = ("node", "node_modules/vite/bin/vite.js")
_PLAIN_STYLESHEET = re.compile(r"\.(css|scss|sass|less|styl|stylus|pcss|postcss|sss)$")
_LOG_ERROR = re.compile(r"error|failed", re.IGNORECASE)

_CAPTURE = """
(() => {
  const report = (kind, data) => {
    try { window.__oracleEvent(kind, data); } catch (e) {}
  };
  const Native = window.WebSocket;
  function Recording(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    if ([].concat(protocols).includes("vite-hmr")) {
      ws.addEventListener("message", (e) => report("message", String(e.data)));
      ws.addEventListener("close", () => report("close", ""));
    }
    return ws;
  }
  Recording.prototype = Native.prototype;
  for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Recording[k] = Native[k];
  window.WebSocket = Recording;
})();
"""


@dataclass(frozen=True)
class Event:
    at: float
    kind: str  # message | close | navigate | log | console
    data: str = ""

    @property
    def payload(self) -> dict[str, Any]:
        if self.kind != "message":
            return {}
        with contextlib.suppress(ValueError):
            value = json.loads(self.data)
            return value if isinstance(value, dict) else {}
        return {}


@dataclass(frozen=True)
class Outcome:
    kind: str
    updates: tuple[str, ...] = ()  # "js-update /src/x.tsx" (+ " via /src/y.tsx" if accepted there)
    errors: tuple[str, ...] = ()
    log: tuple[str, ...] = ()  # Vite's log lines meanwhile
    loaded: bool | None = None  # did the page load the case's file (None: not expected to)
    elapsed_ms: int = 0
    setup_errors: tuple[str, ...] = ()  # errors while the page loaded the old state
    stubs: tuple[str, ...] = ()  # imports the stub plugin answered (setup and change)

    @property
    def modules(self) -> tuple[str, ...]:
        return tuple(u.split(" ", 1)[1] for u in self.updates if u.startswith("js-update"))


STUB_LOG = "[oracle-stub] "  # the stub plugin's line for each import it answers


def _is_reaction(event: Event) -> bool:
    if event.kind == "log" and event.data.startswith(STUB_LOG):
        return False
    return event.kind in ("close", "navigate", "log") or (
        event.kind == "message" and event.payload.get("type") not in ("connected", "ping", None)
    )


def _update_items(events: Iterable[Event]) -> list[tuple[str, bool]]:
    """(description, CSS only) of every update item."""
    items = []
    for event in events:
        payload = event.payload
        for update in payload.get("updates", []) if payload.get("type") == "update" else []:
            path, accepted = update.get("path", ""), update.get("acceptedPath", "")
            css = update.get("type") == "css-update" or (
                path == accepted and bool(_PLAIN_STYLESHEET.search(path)) and ".module." not in path
            )
            via = f" via {accepted}" if accepted and accepted != path else ""
            items.append((f"{update.get('type')} {path}{via}", css))
    return items


def errors_in(events: Iterable[Event]) -> tuple[str, ...]:
    """Vite's error payloads, error lines of its log, its client's console errors."""
    errors = []
    for e in events:
        if e.payload.get("type") == "error":
            errors.append(str(e.payload.get("err", {}).get("message", ""))[:300])
        elif e.kind == "console" or (
            e.kind == "log" and _LOG_ERROR.search(e.data) and not e.data.startswith(STUB_LOG)
        ):
            errors.append(e.data)
    return tuple(dict.fromkeys(errors))


def stubs_in(events: Iterable[Event]) -> tuple[str, ...]:
    lines = (e.data for e in events if e.kind == "log" and e.data.startswith(STUB_LOG))
    return tuple(sorted({line[len(STUB_LOG) :].split(" from ")[0] for line in lines}))


def outcome_of(events: list[Event], loaded: bool | None, elapsed: float) -> Outcome:
    logs = tuple(e.data for e in events if e.kind == "log" and not e.data.startswith(STUB_LOG))
    types = [e.payload.get("type") for e in events]
    items = _update_items(events)
    errors = errors_in(events)
    restarting = any("restarting server" in line for line in logs)
    restarted = any("server restarted" in line for line in logs)
    reloaded = "full-reload" in types or any(e.kind == "navigate" for e in events)
    closed = any(e.kind == "close" for e in events)
    if restarted or (closed and not reloaded):
        kind = "restart"
    elif reloaded:
        kind = "full-reload"
    elif any(not css for _, css in items):
        kind = "js-update"
    elif items:
        kind = "css-update"
    elif errors or restarting:
        kind = "error"
    else:
        kind = "nothing"
    return Outcome(
        kind,
        tuple(d for d, _ in items) + tuple(f"{t}" for t in types if t in ("prune", "full-reload")),
        errors,
        logs,
        loaded,
        int(elapsed * 1000),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class PlainVite:
    """A plain Vite dev server of the oracle project, with its page open in ``browser``."""

    directory: Path
    browser: Any  # a Playwright Browser (sync API)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    events: list[Event] = field(default_factory=list)
    page: Any = None
    _log_offset: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def root(self) -> Path:
        return self.directory / ROOT

    def start(self) -> "PlainVite":
        make_project(self.directory)
        with (self.directory / "vite.log").open("wb") as log:
            self.process = subprocess.Popen(
                [*VITE_COMMAND, "--port", str(self.port), "--strictPort", "--host", "127.0.0.1"],
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._wait_http(30.0)
        self.page = self.browser.new_page()
        self.page.expose_function("__oracleEvent", self._record)
        self.page.add_init_script(_CAPTURE)
        self.page.on("framenavigated", self._navigated)
        self.page.on("console", self._console)
        self.reload_page()
        self.settle(quiet=1.0, first=2.0)  # the first load may optimize deps and reload
        return self

    def stop(self) -> None:
        if self.page is not None:
            with contextlib.suppress(Exception):
                self.page.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def __enter__(self) -> "PlainVite":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the page and the server say ---------------------------------------------

    def _record(self, kind: str, data: str) -> None:
        self.events.append(Event(time.monotonic(), kind, data))

    def _navigated(self, frame: Any) -> None:
        if frame == self.page.main_frame:
            self.events.append(Event(time.monotonic(), "navigate", frame.url))

    def _console(self, message: Any) -> None:
        text = message.text
        if message.type == "error" and ("[hmr]" in text or "[vite]" in text):
            self.events.append(Event(time.monotonic(), "console", text[:300]))

    def _read_log(self) -> None:
        with (self.directory / "vite.log").open("rb") as log:
            log.seek(self._log_offset)
            chunk = log.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._log_offset += len(complete)
        now = time.monotonic()
        for line in complete.decode(errors="replace").splitlines():
            if line.strip():
                self.events.append(Event(now, "log", line.strip()[:300]))

    def _wait_http(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                if time.monotonic() > deadline:
                    raise
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"vite exited: {(self.directory / 'vite.log').read_text()}")
            time.sleep(0.1)

    # --- driving it -----------------------------------------------------------------

    def write(self, edits: Mapping[str, Content]) -> None:
        for name, content in edits.items():
            path = self.directory / name
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)

    def settle(
        self, quiet: float = QUIET_SECONDS, first: float = NOTHING_SECONDS
    ) -> tuple[list[Event], float]:
        """Wait for Vite's reaction to what just happened: the first reaction within
        ``first`` seconds, then ``quiet`` seconds with nothing new (a restart: until the
        server is back and the page reconnected). The events since the call, and how long."""
        start = len(self.events)
        began = time.monotonic()
        while True:
            self.page.wait_for_timeout(POLL_MS)
            self._read_log()
            now, seen = time.monotonic(), self.events[start:]
            reactions = [e for e in seen if _is_reaction(e)]
            if not reactions:
                if now - began >= first:
                    return seen, now - began
                continue
            if self._restart_pending(seen) and now - began < RESTART_SECONDS:
                continue
            if now - max(e.at for e in seen) >= quiet:
                return seen, reactions[-1].at - began

    @staticmethod
    def _restart_pending(seen: list[Event]) -> bool:
        logs = [e.data for e in seen if e.kind == "log"]
        if any("restarting server" in line for line in logs) and not any(
            "server restarted" in line or "restart failed" in line for line in logs
        ):
            return True
        closes = [e.at for e in seen if e.kind == "close"]
        if not closes:
            return False
        back = [e for e in seen if e.at > closes[-1] and e.payload.get("type") == "connected"]
        return not back

    def reload_page(self) -> None:
        self.page.goto(self.url, wait_until="load")
        deadline = time.monotonic() + 10
        while not any(e.payload.get("type") == "connected" for e in self.events[-20:]):
            if time.monotonic() > deadline:
                raise RuntimeError("the page's Vite client did not connect")
            self.page.wait_for_timeout(POLL_MS)

    def page_loaded(self, url_path: str) -> bool:
        names: list[str] = self.page.evaluate(
            "performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname)"
        )
        return url_path in names

    def apply(self, edits: Mapping[str, Content], loaded: bool | None = None) -> Outcome:
        """Write (content) or delete (None) files, and record what Vite did."""
        self._read_log()
        self.write(edits)
        seen, took = self.settle()
        return outcome_of(seen, loaded, took)

    def run(self, plan: CasePlan) -> Outcome:
        """Set up a case's old state on a freshly loaded page, apply its edit, restore."""
        mark = len(self.events)
        self.write(plan.setup)
        self.settle(quiet=0.3, first=1.5)
        self.reload_page()
        self.settle(quiet=0.3, first=0.3)
        loaded = self.page_loaded(plan.loads) if plan.loads else None
        setup = self.events[mark:]
        outcome = self.apply(plan.change, loaded)
        stubs = stubs_in([*setup, *self.events[mark + len(setup) :]])
        outcome = replace(outcome, setup_errors=errors_in(setup), stubs=stubs)
        self.write(plan.restore)
        self.settle(quiet=0.3, first=0.6)
        return outcome


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    from tests.changes.corpus import CASES
    from tests.conftest import CHROMIUM, CHROMIUM_ARGS
    from tests.oracle.verdicts import run_case, summary, table

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", type=Path, required=True, help="write the Markdown table here")
    parser.add_argument("--case", action="append", help="only these case ids")
    parser.add_argument("--verbose", action="store_true", help="print every outcome in full")
    args = parser.parse_args(argv)
    cases = [c for c in CASES if not args.case or c.id in args.case]
    with (
        tempfile.TemporaryDirectory(prefix="vite-oracle-") as tmp,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        with PlainVite(Path(tmp), browser) as vite:
            rows = []
            for case in cases:
                rows.append(run_case(vite, case))
                r = rows[-1]
                print(f"{r.case_id}: {r.outcome.kind} {list(r.outcome.updates)} → {r.verdict}")
                if args.verbose:
                    print(f"    {r.outcome}\n    {r.note}")
        browser.close()
    args.table.write_text(table(rows))
    print(args.table, summary(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
