"""Browsers' acknowledgements: ``update.applied`` once a page has applied an update.

An update shown to running pages gets the agent's change number (``seq`` of
:class:`~kontext_preview.sandbox.base.NotifyResult`); the page's client module
acknowledges it over the dev server's socket, the agent reports that here, and the
waiting ``update.applied`` events are published with ``browserAck`` (``update``,
``css``, ``reload``, ``error``) and ``browserAppliedMs``. No page connected: published at
once with ``browserAck: "none"``. No acknowledgement within
``browser_ack_timeout_seconds`` (a page that says it reloads for the change gets the
start timeout): ``"timeout"``; the dev server restarting or the session
hibernating meanwhile: ``"restarted"`` / ``"hibernated"``.

A change that restarts the dev server (Vite's own restart for its config or env files, or
a new dev server for new dependencies) is acknowledged ``reload`` by the first page
loaded again from the restarted server; a new dev server's wait is numbered negative (the
next agent numbers its own changes from 1) and lasts the install and start timeouts more.

The pages' own warnings and errors on the console are published as ``preview.console``
(repeats folded with a ``count``, at most 20 a second: the agent's limits). The agent also
reports the pages' errors, published here as ``preview.error``: compile
errors, runtime errors, and updates a page could not apply (kind ``update``: the module
failed to fetch, to evaluate or to link; with the failed updates' ``seq`` and
``updateIds``, and ``browserAck: "error"`` on their ``update.applied``).
"""

import asyncio
from typing import Any

from kontext_preview import events as ev
from kontext_preview.config import Settings
from kontext_preview.events import EventLog
from kontext_preview.previews.registry import SessionRegistry
from kontext_preview.previews.session import AckWait, PreviewSession
from kontext_preview.previews.updates import PendingUpdate, UpdateResult, applied_event
from kontext_preview.sandbox.base import NotifyResult

# What a preview.error event carries, when the agent reports it.
ERROR_FIELDS = ("kind", "message", "file", "line", "column", "frame", "stack", "plugin")
# What a preview.console event carries (the agent folds repeats and limits the rate).
CONSOLE_FIELDS = ("level", "message", "file", "line", "column", "count", "dropped")


class AckTracker:
    def __init__(self, settings: Settings, events: EventLog, registry: SessionRegistry):
        self.settings = settings
        self.events = events
        self.registry = registry

    def report_applied(
        self,
        session: PreviewSession,
        shown: NotifyResult,
        results: list[tuple[PendingUpdate, UpdateResult]],
    ) -> None:
        """Publish update.applied for each update: at once if no browser will acknowledge
        it, else when the first page does (or the wait times out)."""
        applied = [applied_event(p, r) for p, r in results]
        received = [p.received_at for p, _ in results]
        if shown.seq is None or shown.clients == 0:
            for data in applied:
                self.events.publish(session.id, ev.UPDATE_APPLIED, data)
            return
        wait = AckWait(applied, received)
        settings = self.settings
        timeout = settings.browser_ack_timeout_seconds
        if shown.seq < 0:  # a dev-server restart: the pages reload once the next one serves
            timeout += settings.install_timeout_seconds + settings.startup_timeout_seconds
        self._wait(session, shown.seq, wait, timeout)

    def _wait(self, session: PreviewSession, seq: int, wait: AckWait, seconds: float) -> None:
        if wait.timer:
            wait.timer.cancel()
        wait.timer = asyncio.get_running_loop().call_later(
            seconds, lambda: self.complete(session, seq, "timeout", None)
        )
        session.acks[seq] = wait

    def complete(
        self, session: PreviewSession, seq: int, kind: str, acked_at: float | None
    ) -> None:
        """Change ``seq`` was applied by a page (``kind``: how), or will not be: publish
        its update.applied events."""
        wait = session.acks.pop(seq, None)
        if wait is None:
            return
        if wait.timer:
            wait.timer.cancel()
        for data, received_at in zip(wait.applied, wait.received_at, strict=True):
            data["browserAck"] = kind
            if acked_at is not None:
                data["browserAppliedMs"] = round(acked_at - received_at * 1000, 2)
            self.events.publish(session.id, ev.UPDATE_APPLIED, data)

    def drop(self, session: PreviewSession, kind: str) -> None:
        """No page will acknowledge what is waiting (``kind``: restarted, hibernated)."""
        for seq in list(session.acks):
            self.complete(session, seq, kind, None)

    def forget(self, session: PreviewSession) -> None:
        """The session leaves this process: no more timers for it."""
        for wait in session.acks.values():
            if wait.timer:
                wait.timer.cancel()

    def on_agent_event(self, session: PreviewSession, event: dict[str, Any]) -> None:
        """An event from the session's agent: an acknowledgement or a page's error."""
        if not self.registry.holds(session):
            return
        if event.get("type") == "reloading":  # a page reloads for change `seq`: give it time
            seq = int(event.get("seq", -1))
            if (wait := session.acks.get(seq)) is not None:
                self._wait(session, seq, wait, self.settings.startup_timeout_seconds)
        elif event.get("type") == "ack":
            at = event.get("at")
            self.complete(
                session,
                int(event.get("seq", -1)),
                str(event.get("kind", "update")),
                float(at) if isinstance(at, int | float) else None,
            )
        elif event.get("type") == "preview-error":
            data = {k: event[k] for k in ERROR_FIELDS if event.get(k) is not None}
            # A failed update names the agent's change number: the error carries the
            # numbers the chat knows, those of the updates shown as that change.
            wait = session.acks.get(int(event["seq"])) if event.get("seq") is not None else None
            if wait is not None:
                data["seq"] = max(a["seq"] for a in wait.applied)
                data["updateIds"] = [a["updateId"] for a in wait.applied]
            session.log(f"{data.get('kind', 'error')} error: {data.get('message', '')[:300]}")
            self.events.publish(session.id, ev.PREVIEW_ERROR, data)
        elif event.get("type") == "console":
            data = {k: event[k] for k in CONSOLE_FIELDS if event.get(k) is not None}
            self.events.publish(session.id, ev.PREVIEW_CONSOLE, data)
