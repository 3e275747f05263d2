"""A session's status as a state machine: the changes allowed, in one table, and the
events each causes, published where the change is made.

A status changes only through :meth:`Lifecycle.move`, which the engine's parts call
(the supervisor as it launches, fails or hibernates a session; the engine as a warm slot
becomes a session). It checks the change against :data:`ALLOWED`, sets the session's
status and error, and publishes what the chat app is told (:func:`events_of`:
``session.starting``, ``session.ready``, ``session.failed``, ``session.hibernated``) for a
registered session (a warm slot nobody has claimed publishes nothing), then has the
store keep the record (distributed mode: the registry in Redis).

    installing ─▶ starting ─▶ active ─▶ hibernated
        ▲  │          │          │          │
        └──┴──────────┴──────────┴──────────┘   (re)launch: to installing from any
    installing, starting, active ─▶ failed ─▶ installing (the next update)
"""

import logging
import time
from dataclasses import dataclass
from typing import Any

from kontext_preview import events as ev
from kontext_preview.config import Settings
from kontext_preview.contract import SETTLED, SessionStatus
from kontext_preview.events import EventLog
from kontext_preview.previews.registry import SessionRegistry
from kontext_preview.previews.session import PreviewSession
from kontext_preview.previews.store import SessionStore

log = logging.getLogger(__name__)
S = SessionStatus

# What each status may become. A launch (a start, a restart, a wake) goes to
# `installing` from anywhere; `active` again is a warm slot claimed (its dev server
# already serves) or a dev server taken over.
ALLOWED: dict[SessionStatus, frozenset[SessionStatus]] = {
    S.INSTALLING: frozenset({S.INSTALLING, S.STARTING, S.ACTIVE, S.FAILED, S.HIBERNATED}),
    S.STARTING: frozenset({S.INSTALLING, S.ACTIVE, S.FAILED, S.HIBERNATED}),
    S.ACTIVE: frozenset({S.INSTALLING, S.ACTIVE, S.FAILED, S.HIBERNATED}),
    S.FAILED: frozenset({S.INSTALLING, S.FAILED, S.HIBERNATED}),
    S.HIBERNATED: frozenset({S.INSTALLING, S.HIBERNATED}),
}


class IllegalTransition(RuntimeError):
    """A status change :data:`ALLOWED` does not have: a bug of the caller."""


def events_of(
    session: PreviewSession, to: SessionStatus, settings: Settings, reason: str | None
) -> list[tuple[str, dict[str, Any]]]:
    """The events moving ``session`` to ``to`` causes: (type, data) each."""
    if to in (S.INSTALLING, S.STARTING):
        return [(ev.SESSION_STARTING, {"phase": to.value})]
    if to is S.ACTIVE:
        ready: dict[str, Any] = {"previewUrl": settings.preview_url(session.id)}
        if session.starting_since is not None:
            ready["start"] = session.start
            ready["startMs"] = round((time.time() - session.starting_since) * 1000, 1)
        return [(ev.SESSION_READY, ready)]
    if to is S.FAILED:
        return [(ev.SESSION_FAILED, {"error": session.error})]
    if to is S.HIBERNATED:
        return [(ev.SESSION_HIBERNATED, {"reason": reason or "idle"})]
    return []


@dataclass
class Lifecycle:
    settings: Settings
    events: EventLog
    store: SessionStore
    registry: SessionRegistry

    def move(
        self,
        session: PreviewSession,
        to: SessionStatus,
        error: str | None = None,
        *,
        reason: str | None = None,
    ) -> None:
        """Change ``session``'s status to ``to`` (``error``: why it failed; ``reason``: why
        it hibernates), publish the events that causes and keep its record. Raises
        IllegalTransition for a change ALLOWED does not have."""
        before = session.status
        if to not in ALLOWED[before]:
            raise IllegalTransition(f"session {session.id}: {before.value} → {to.value}")
        session.status, session.error = to, error
        if to in SETTLED:
            session.settled.set()
        else:
            session.settled.clear()
        if error:
            session.log(f"failed: {error}")
            log.warning("session %s failed: %s", session.id, error)
        if to is S.ACTIVE:
            session.fallback = None
        announced = self.registry.holds(session)
        if announced:
            for type_, data in events_of(session, to, self.settings, reason):
                self.events.publish(session.id, type_, data)
        if to is S.ACTIVE:
            session.starting_since = None
        if announced:
            self.store.saved(session)
