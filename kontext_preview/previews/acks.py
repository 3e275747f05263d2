"""Browsers' acknowledgements: ``update.applied`` once the open pages show an update.

An update shown to running pages gets the agent's change number (``seq`` of
:class:`~kontext_preview.sandbox.base.NotifyResult`); each page's client module
(``sandbox-images/agent/page/client.js``) acknowledges it once the page shows it, the agent
reports every page's acknowledgement here, and the waiting ``update.applied`` events are
published with ``browserAck`` and ``pages`` (how many acknowledged) once every page that was
open has answered, or ``ACK_GRACE_SECONDS`` after the first did. ``browserAck`` tells the
truth of what the pages show (issue 29):

* ``update`` (Vite's HMR), ``css`` (injected), ``reload`` (loaded again, from the restarted
  dev server too): the pages show it; ``browserAppliedMs`` is the first page's;
* ``error``: a page could not show it (an update it could not apply, an app that did not load
  or that threw and shows nothing), with a ``preview.error``; a session that failed to start
  again fails the updates its pages waited for the same way;
* ``unaffected``: pages are open, and the change touches nothing they loaded;
* ``none``: no page is open; ``timeout``: none answered within
  ``browser_ack_timeout_seconds`` (a page that says it reloads for the change gets the start
  timeout); ``hibernated``: the session went to sleep meanwhile; ``restarted``: its dev
  server died and was started again.

A change that restarts the dev server (Vite's own restart for its config or env files, or
a new dev server for new dependencies) is acknowledged ``reload`` by the pages loaded again
from the restarted server: the preview proxy holds their sockets meanwhile and tells them to
reload once it serves. A new dev server's wait is numbered negative (the next agent numbers
its own changes from 1) and lasts the install and start timeouts more; updates that arrive
while it starts reach the pages with that reload, and are acknowledged with it.

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
from kontext_preview.contract import SessionStatus
from kontext_preview.event_models import salvaged
from kontext_preview.events import EventLog
from kontext_preview.previews.registry import SessionRegistry
from kontext_preview.previews.session import AckWait, PreviewSession
from kontext_preview.previews.updates import PendingUpdate, UpdateResult, applied_event
from kontext_preview.sandbox.base import NotifyResult
from kontext_preview.sandbox.protocol import (
    Ack,
    PageConsole,
    PageEvent,
    PagePreviewError,
    Reloading,
)

# What a preview.error event carries, when the agent reports it.
ERROR_FIELDS = ("kind", "message", "file", "line", "column", "frame", "stack", "plugin")
# What a preview.console event carries (the agent folds repeats and limits the rate).
CONSOLE_FIELDS = ("level", "message", "file", "line", "column", "count", "dropped")
# After the first page acknowledged a change, how long the other open pages get before it is
# published (a tab in the background runs its timers late).
ACK_GRACE_SECONDS = 0.5
# Which of the pages' answers an update.applied carries when they differ: the worst.
SEVERITY = {"css": 0, "update": 1, "reload": 2, "error": 3}
STARTING = (SessionStatus.INSTALLING, SessionStatus.STARTING)


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
        """Publish update.applied for each update: when the open pages have shown it (or
        the wait times out), at once if no page will."""
        applied = [applied_event(p, r) for p, r in results]
        received = [p.received_at for p, _ in results]
        if shown.seq is None:
            restart = _restart_wait(session)
            if restart is not None and session.status in STARTING:
                # The pages reload from the dev server being started, which has these files.
                seq, wait = restart
                wait.applied += applied
                wait.received_at += received
                self._wait(session, seq, wait, self._restart_timeout())
                return
            kind = "unaffected" if shown.clients else "none"
            self._publish_now(session, applied, kind)
            return
        wait = AckWait(applied, received, expected=shown.clients)
        if shown.seq < 0:  # a (re)start: the pages reload once the next dev server serves
            if (earlier := _restart_wait(session)) is not None:  # restarted again: one wait
                old_seq, old = earlier
                session.acks.pop(old_seq)
                if old.timer:
                    old.timer.cancel()
                wait.applied[:0], wait.received_at[:0] = old.applied, old.received_at
                wait.expected = max(wait.expected, old.expected)
            self._wait(session, shown.seq, wait, self._restart_timeout())
            return
        if shown.clients == 0:
            self._publish_now(session, applied, "none")
            return
        self._wait(session, shown.seq, wait, self.settings.browser_ack_timeout_seconds)

    def launched(self, session: PreviewSession) -> None:
        """The session's dev server serves: the pages waited for reload now. Pages that were
        open (held by the proxy) get the time a page load takes; with none open, a page
        showing a status page gets the acknowledgement timeout to follow it here, then the
        update was seen by no page (``none``)."""
        settings = self.settings
        for seq, wait in list(session.acks.items()):
            if seq < 0 and not wait.pages:
                seconds = settings.startup_timeout_seconds if wait.expected else 0.0
                self._wait(session, seq, wait, seconds + settings.browser_ack_timeout_seconds)

    def _restart_timeout(self) -> float:
        settings = self.settings
        return (
            settings.browser_ack_timeout_seconds
            + settings.install_timeout_seconds
            + settings.startup_timeout_seconds
        )

    def _publish_now(
        self, session: PreviewSession, applied: list[dict[str, Any]], kind: str
    ) -> None:
        for data in applied:
            data["browserAck"] = kind
            data["pages"] = 0
            self.events.publish(session.id, ev.UPDATE_APPLIED, data)

    def _wait(self, session: PreviewSession, seq: int, wait: AckWait, seconds: float) -> None:
        if wait.timer:
            wait.timer.cancel()
        wait.timer = asyncio.get_running_loop().call_later(
            seconds, lambda: self.complete(session, seq, "timeout")
        )
        session.acks[seq] = wait

    def acknowledged(
        self, session: PreviewSession, seq: int, kind: str, at: float | None, page: str
    ) -> None:
        """Page ``page`` shows change ``seq`` (``kind``: how; ``at``: when, ms since the
        epoch). Published once every page that was open has answered, or
        ``ACK_GRACE_SECONDS`` after the first."""
        wait = session.acks.get(seq)
        if wait is None or page in wait.pages or kind not in SEVERITY:
            return  # not waited for, answered already, or not a kind a page answers
        wait.pages.add(page)
        if wait.first_at is None:
            wait.first_at = at
        if wait.kind is None or SEVERITY.get(kind, 3) > SEVERITY.get(wait.kind, 3):
            wait.kind = kind
        if len(wait.pages) >= wait.expected:
            self.complete(session, seq, kind)
        elif len(wait.pages) == 1:
            self._wait(session, seq, wait, ACK_GRACE_SECONDS)

    def complete(
        self, session: PreviewSession, seq: int, kind: str, error: str | None = None
    ) -> None:
        """Publish the update.applied events waiting for change ``seq``: as the pages that
        answered showed it, else with ``kind`` (why none will: timeout, restarted...; an
        ``error`` with it)."""
        wait = session.acks.pop(seq, None)
        if wait is None:
            return
        if wait.timer:
            wait.timer.cancel()
        timed_out = kind == "timeout" and not wait.pages
        for data, received_at in zip(wait.applied, wait.received_at, strict=True):
            # A start no page was open for, and none came to: seen by no page.
            data["browserAck"] = wait.kind or ("none" if timed_out and not wait.expected else kind)
            data["pages"] = len(wait.pages)
            if error and not wait.kind:
                data["error"] = error
            if wait.first_at is not None:
                data["browserAppliedMs"] = round(wait.first_at - received_at * 1000, 2)
            self.events.publish(session.id, ev.UPDATE_APPLIED, data)

    def drop(
        self,
        session: PreviewSession,
        kind: str,
        *,
        keep_restart: bool = False,
        error: str | None = None,
    ) -> None:
        """No page will acknowledge what is waiting (``kind``: restarted, hibernated, error,
        with the ``error``); ``keep_restart``: except a restart's reload, which the pages
        still make (from the dev server being started now)."""
        for seq in list(session.acks):
            if not (keep_restart and seq < 0):
                self.complete(session, seq, kind, error)

    def forget(self, session: PreviewSession) -> None:
        """The session leaves this process: no more timers for it."""
        for wait in session.acks.values():
            if wait.timer:
                wait.timer.cancel()

    def on_agent_event(self, session: PreviewSession, event: PageEvent) -> None:
        """An event from the session's agent: an acknowledgement or a page's error."""
        if not self.registry.holds(session):
            return
        if isinstance(event, Reloading):  # a page reloads for change `seq`: give it time
            if (wait := session.acks.get(event.seq)) is not None:
                self._wait(session, event.seq, wait, self.settings.startup_timeout_seconds)
        elif isinstance(event, Ack):
            self.acknowledged(session, event.seq, event.kind, event.at, event.page)
        elif isinstance(event, PagePreviewError):
            data = event.model_dump(include=set(ERROR_FIELDS), exclude_none=True)
            data = salvaged(ev.PREVIEW_ERROR, data)  # the page's words: what fits the model
            # A failed update names the agent's change number: the error carries the
            # numbers the chat knows, those of the updates shown as that change.
            wait = session.acks.get(event.seq) if event.seq is not None else None
            if wait is not None:
                data["seq"] = max(a["seq"] for a in wait.applied)
                data["updateIds"] = [a["updateId"] for a in wait.applied]
            session.log(f"{data.get('kind', 'error')} error: {data.get('message', '')[:300]}")
            self.events.publish(session.id, ev.PREVIEW_ERROR, data)
        elif isinstance(event, PageConsole):
            data = event.model_dump(include=set(CONSOLE_FIELDS), exclude_none=True)
            self.events.publish(session.id, ev.PREVIEW_CONSOLE, salvaged(ev.PREVIEW_CONSOLE, data))


def _restart_wait(session: PreviewSession) -> tuple[int, AckWait] | None:
    """The wait for the pages' reload after a dev-server restart, if one is on."""
    return next(((seq, w) for seq, w in session.acks.items() if seq < 0), None)
