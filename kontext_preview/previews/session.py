"""A preview session: the project's files, its layout, its sandbox and what it is doing."""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kontext_preview.contract import SessionStatus
from kontext_preview.logs import plain
from kontext_preview.previews.updates import PendingUpdate
from kontext_preview.sandbox.base import Sandbox
from kontext_preview.workspace.layout import ProjectLayout
from kontext_preview.workspace.vfs import VirtualFileSystem

log = logging.getLogger(__name__)

# Told of every log line ("log", {"line"}); status changes are the lifecycle's
# (previews/lifecycle.py), not told here.
SessionListener = Callable[["PreviewSession", str, dict[str, Any]], None]


@dataclass
class AckWait:
    """Updates shown to browsers as change number ``seq``, waiting for the pages that were
    open (``expected``) to show them."""

    applied: list[dict[str, Any]]  # the update.applied events to complete and publish
    received_at: list[float]  # when each update was received (wall clock)
    expected: int = 1  # pages connected when the change was sent
    pages: set[str] = field(default_factory=set)  # pages that acknowledged it
    kind: str | None = None  # how they did (the worst of theirs: error, reload, update, css)
    first_at: float | None = None  # when the first one did (ms since the epoch)
    timer: asyncio.TimerHandle | None = None


@dataclass(eq=False)
class PreviewSession:
    id: str
    vfs: VirtualFileSystem
    layout: ProjectLayout
    ttl_seconds: int
    owner: str = "local"
    project_type: str | None = None
    status: SessionStatus = SessionStatus.INSTALLING
    error: str | None = None
    sandbox: Sandbox | None = None
    created_at: float = field(default_factory=time.time)
    last_activity: float = field(default_factory=time.time)
    logs: deque[str] = field(default_factory=lambda: deque(maxlen=200))
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    launch_task: asyncio.Task[None] | None = None
    monitor_task: asyncio.Task[None] | None = None
    pending: list["PendingUpdate"] = field(default_factory=list)  # updates waiting to be applied
    applier: asyncio.Task[None] | None = None  # applies pending updates, a batch at a time
    acks: dict[int, AckWait] = field(default_factory=dict)  # shown, not yet acknowledged
    listener: SessionListener | None = None
    crashes: deque[float] = field(default_factory=deque)  # when the dev server died (monotonic)
    fallback: str | None = None  # why the session is served by its deployment instead
    warnings: list[str] = field(default_factory=list)  # what its install worked around
    update_seq: int = 0  # updates received so far (each update's `seq`)
    start: str = "create"  # how its dev server is (re)starting: create, warm-pool, resume...
    starting_since: float | None = None  # when that began (wall clock), until it serves

    @property
    def expires_at(self) -> int:
        return int(self.last_activity + self.ttl_seconds)

    def touch(self) -> None:
        self.last_activity = time.time()

    def log(self, line: str) -> None:
        """Keep a line of the session's log, and tell the listener (the engine publishes it
        while the session installs): plain text, terminal colours (dev server and npm
        output) taken out (``logs.plain``)."""
        line = plain(line)
        self.logs.append(line)
        log.debug("session %s: %s", self.id, line)
        if self.listener:
            self.listener(self, "log", {"line": line})
