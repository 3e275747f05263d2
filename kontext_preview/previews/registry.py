"""The sessions this process runs, and what it remembers of those that ended.

One owner per session: every lookup takes the calling user, and another user's
session is answered exactly like an unknown one. An ended session is remembered
(:class:`Ended`: whose it was, how it ended) for
:func:`~kontext_preview.contract.ended_retention_seconds`, so its preview can say
"expired" and a create with the same id restores it.
"""

import time
from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from kontext_preview import events as ev
from kontext_preview.config import Settings
from kontext_preview.contract import check_user_room, ended_retention_seconds, is_session_id
from kontext_preview.errors import SessionNotFound, TooManySessions
from kontext_preview.previews.session import PreviewSession

ENDED_REMEMBERED_MAX = 100_000  # ended sessions remembered at most (oldest forgotten first)


@dataclass(frozen=True)
class Ended:
    """What is remembered of an ended session: whose it was, and how it ended."""

    owner: str
    reason: str  # session.deleted | session.expired
    until: float  # forgotten after this (unix s)

    @property
    def expired(self) -> bool:
        return self.reason == ev.SESSION_EXPIRED


class SessionRegistry:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._sessions: dict[str, PreviewSession] = {}
        self._ended: OrderedDict[str, Ended] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[PreviewSession]:
        """The live sessions (a snapshot: safe to end sessions while iterating)."""
        return iter(list(self._sessions.values()))

    def ids(self) -> list[str]:
        return list(self._sessions)

    def find(self, session_id: str) -> PreviewSession | None:
        """The live session, whoever owns it; None if unknown."""
        return self._sessions.get(session_id)

    def get(self, session_id: str, owner: str | None = None) -> PreviewSession:
        """The session (``owner`` None: whoever owns it). Raises SessionNotFound for an
        unknown id, a malformed one, or another owner's session."""
        session = self._sessions.get(session_id) if is_session_id(session_id) else None
        if session is None or (owner is not None and session.owner != owner):
            raise SessionNotFound(session_id[:80])
        return session

    def holds(self, session: PreviewSession) -> bool:
        """Whether this very session object is registered (not ended or replaced)."""
        return self._sessions.get(session.id) is session

    def add(self, session: PreviewSession) -> bool:
        """Register a session; True if it was remembered as ended (a restore)."""
        self._sessions[session.id] = session
        return self._ended.pop(session.id, None) is not None

    def discard(self, session: PreviewSession) -> None:
        if self.holds(session):
            del self._sessions[session.id]

    def ended(self, session_id: str, owner: str | None = None) -> Ended | None:
        """How the owner's session ended, while that is remembered."""
        ended = self._ended.get(session_id)
        if ended is None or ended.until < time.time():
            return None
        return ended if owner is None or ended.owner == owner else None

    def restorable(self, session_id: str, owner: str) -> bool:
        """An expired session of the owner's that a create with its id brings back."""
        ended = self.ended(session_id, owner)
        return session_id not in self._sessions and ended is not None and ended.expired

    def owns(self, session_id: str, owner: str) -> bool:
        session = self._sessions.get(session_id)
        if session is not None:
            return session.owner == owner
        return self.ended(session_id, owner) is not None

    def remember_end(self, session_id: str, owner: str, reason: str) -> None:
        now = time.time()
        self._ended.pop(session_id, None)
        until = now + ended_retention_seconds(self.settings, reason)
        self._ended[session_id] = Ended(owner, reason, until)
        while self._ended and (
            next(iter(self._ended.values())).until < now or len(self._ended) > ENDED_REMEMBERED_MAX
        ):
            self._ended.popitem(last=False)

    def check_room(self, owner: str) -> None:
        """This node's limit (``KONTEXT_MAX_SESSIONS``) and the owner's. Raises
        TooManySessions (429)."""
        limit = self.settings.max_sessions
        if len(self._sessions) >= limit:
            raise TooManySessions(
                f"{len(self._sessions)} preview sessions are live on this node, the limit "
                f"(KONTEXT_MAX_SESSIONS) is {limit}; delete one first"
            )
        check_user_room(sum(1 for s in self._sessions.values() if s.owner == owner), self.settings)

    def status_counts(self) -> Counter[str]:
        """Live sessions by status."""
        return Counter(s.status.value for s in self._sessions.values())
