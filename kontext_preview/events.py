"""Session events: what the chat app follows on ``GET /kontext/preview/{id}/events``.

Every session has an ordered, bounded log of named events (``session.ready``,
``update.applied``, ``preview.error`` …). The SSE endpoint replays it from a
``Last-Event-ID`` and then follows it live, so a client that reconnects gets
exactly what it missed. The embedded default keeps the log in memory; the
distributed mode keeps it in a Redis Stream that the API, every worker and beat
share (``XADD`` with an approximate ``MAXLEN``; the stream's ids are the SSE ids).

A terminal event (``session.deleted``, ``session.expired``) ends the stream; the
log is kept a little longer (``events_retention_seconds``) so that a client that
reconnects late still learns how the session ended.
"""

import asyncio
import contextlib
import json
import logging
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from kontext_preview.event_models import validated

log = logging.getLogger(__name__)

SESSION_STARTING = "session.starting"
INSTALL_PROGRESS = "install.progress"
SESSION_READY = "session.ready"
SESSION_FAILED = "session.failed"
UPDATE_RECEIVED = "update.received"
UPDATE_APPLIED = "update.applied"
PREVIEW_ERROR = "preview.error"
PREVIEW_CONSOLE = "preview.console"
DEPLOY_QUEUED = "deploy.queued"
DEPLOY_SUPERSEDED = "deploy.superseded"
DEPLOY_STARTED = "deploy.started"
DEPLOY_PROGRESS = "deploy.progress"
DEPLOY_SUCCEEDED = "deploy.succeeded"
DEPLOY_FAILED = "deploy.failed"
SESSION_HIBERNATED = "session.hibernated"
SESSION_EXPIRED = "session.expired"
SESSION_DELETED = "session.deleted"

EVENT_TYPES = (
    SESSION_STARTING,
    INSTALL_PROGRESS,
    SESSION_READY,
    SESSION_FAILED,
    UPDATE_RECEIVED,
    UPDATE_APPLIED,
    PREVIEW_ERROR,
    PREVIEW_CONSOLE,
    DEPLOY_QUEUED,
    DEPLOY_SUPERSEDED,
    DEPLOY_STARTED,
    DEPLOY_PROGRESS,
    DEPLOY_SUCCEEDED,
    DEPLOY_FAILED,
    SESSION_HIBERNATED,
    SESSION_EXPIRED,
    SESSION_DELETED,
)
TERMINAL = frozenset({SESSION_EXPIRED, SESSION_DELETED})


@dataclass(frozen=True)
class Event:
    """One event; ``raw``: its data as JSON text when it came stored that way (a Redis
    stream entry), sent as it is to every follower instead of encoded again for each."""

    id: str
    type: str
    data: dict[str, Any]
    raw: str | None = field(default=None, compare=False, repr=False)

    def json(self) -> str:
        return self.raw if self.raw is not None else json.dumps(self.data, separators=(",", ":"))


# Told of every event this process publishes (metrics): session id, type, data.
EventObserver = Callable[[str, str, dict[str, Any]], None]


class EventLog(ABC):
    """Publish a session's events in order; read them from any point, waiting for new ones."""

    def __init__(self) -> None:
        self.observers: list[EventObserver] = []

    def publish(self, session_id: str, type_: str, data: dict[str, Any] | None = None) -> None:
        """Append an event; returns at once, events of one process stay in order."""
        for observe in self.observers:
            observe(session_id, type_, data or {})
        self.append(session_id, type_, data)

    @abstractmethod
    def append(self, session_id: str, type_: str, data: dict[str, Any] | None = None) -> None:
        """Store an event (publish's part that depends on where events live)."""

    @abstractmethod
    async def read(self, session_id: str, after: str | None, wait: float) -> list[Event]:
        """Events after id ``after`` (None: from the start), waiting up to ``wait`` s for one."""

    @abstractmethod
    async def last_id(self, session_id: str) -> str | None:
        """The id of the session's latest event (None: none yet): following the stream
        after it gives only what comes next."""

    @abstractmethod
    async def exists(self, session_id: str) -> bool:
        """Whether the session has (or recently had) an event log."""

    @abstractmethod
    async def end(self, session_id: str) -> None:
        """The session is gone: keep its log only for the retention time."""

    async def flush(self) -> None:
        """Wait until everything published so far is stored."""
        return None

    async def aclose(self) -> None:
        return None

    async def follow(
        self, session_id: str, after: str | None, wait: float = 15.0
    ) -> AsyncIterator[Event | None]:
        """Events from ``after`` on, then live; yields None after ``wait`` s of silence (a
        chance to send a keep-alive); stops after a terminal event."""
        while True:
            events = await self.read(session_id, after, wait)
            if not events:
                yield None
                if not await self.exists(session_id):
                    return
            for event in events:
                after = event.id
                yield event
                if event.type in TERMINAL:
                    return


def received_event(update_id: str, seq: int, files: int) -> dict[str, Any]:
    """The data of ``update.received``: the update's id, its number (``seq``, 1, 2, 3… per
    session) and how many files it sent. Published by the session engine (embedded) or by
    the distributed API's enqueue script, which sets ``seq`` as it numbers the update."""
    return {"updateId": update_id, "seq": seq, "files": files}


def event_data(type_: str, data: dict[str, Any] | None) -> dict[str, Any]:
    """An event's data as stored and sent: ``type``, ``at`` (unix s) and ``data``, checked
    against the event's model (:mod:`kontext_preview.event_models`; raises pydantic's
    ValidationError for a field it does not declare or a value of another type)."""
    return validated(type_, round(time.time(), 3), data or {})


class MemoryEventLog(EventLog):
    """The embedded default: the last ``max_events`` events per session, in this process."""

    def __init__(self, max_events: int = 1000, retention_seconds: float = 3600.0):
        super().__init__()
        self.max_events = max_events
        self.retention_seconds = retention_seconds
        self._logs: dict[str, deque[Event]] = {}
        self._counters: dict[str, int] = {}
        self._changed: dict[str, asyncio.Event] = {}
        self._ended: dict[str, float] = {}

    def append(self, session_id: str, type_: str, data: dict[str, Any] | None = None) -> None:
        self._forget_old()
        number = self._counters.get(session_id, 0) + 1
        self._counters[session_id] = number
        events = self._logs.setdefault(session_id, deque(maxlen=self.max_events))
        events.append(Event(str(number), type_, event_data(type_, data)))
        changed = self._changed.pop(session_id, None)
        if changed:
            changed.set()

    async def read(self, session_id: str, after: str | None, wait: float) -> list[Event]:
        found = self._after(session_id, after)
        if found or wait <= 0:
            return found
        changed = self._changed.setdefault(session_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), wait)
        return self._after(session_id, after)

    async def last_id(self, session_id: str) -> str | None:
        events = self._logs.get(session_id)
        return events[-1].id if events else None

    async def exists(self, session_id: str) -> bool:
        self._forget_old()
        return session_id in self._logs

    async def end(self, session_id: str) -> None:
        self._ended[session_id] = time.monotonic()

    def _after(self, session_id: str, after: str | None) -> list[Event]:
        events = self._logs.get(session_id)
        if not events:
            return []
        number = _event_number(after)
        return [e for e in events if int(e.id) > number]

    def _forget_old(self) -> None:
        cutoff = time.monotonic() - self.retention_seconds
        for session_id, ended in list(self._ended.items()):
            if ended < cutoff:
                del self._ended[session_id]
                self._logs.pop(session_id, None)
                self._counters.pop(session_id, None)


def _event_number(event_id: str | None) -> int:
    if not event_id:
        return 0
    try:
        return int(event_id)
    except ValueError:
        return 0
