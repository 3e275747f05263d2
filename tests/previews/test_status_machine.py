"""A session's status changes only as previews/lifecycle.py's table allows, and each
change publishes its events right there, for registered sessions only."""

from pathlib import Path

import pytest

from kontext_preview import events as ev
from kontext_preview.config import Settings
from kontext_preview.contract import SessionStatus as S
from kontext_preview.events import MemoryEventLog
from kontext_preview.previews.lifecycle import ALLOWED, IllegalTransition, Lifecycle
from kontext_preview.previews.registry import SessionRegistry
from kontext_preview.previews.session import PreviewSession
from kontext_preview.previews.store import NullStore
from kontext_preview.workspace.layout import detect_layout
from kontext_preview.workspace.vfs import FileLimits, VirtualFileSystem

FILES = {"index.html": b"<div id=app></div>", "package.json": b'{"name": "x"}'}


def machine(tmp_path: Path) -> tuple[Lifecycle, PreviewSession, MemoryEventLog]:
    settings = Settings(data_dir=tmp_path)
    events = MemoryEventLog()
    registry = SessionRegistry(settings)
    session = PreviewSession(
        "s" * 32,
        VirtualFileSystem(tmp_path / "w", FileLimits.of(settings)),
        detect_layout(FILES),
        60,
    )
    registry.add(session)
    return Lifecycle(settings, events, NullStore(), registry), session, events


def published(events: MemoryEventLog, session: PreviewSession) -> list[str]:
    return [e.type for e in events._after(session.id, None)]


def test_every_status_has_its_allowed_changes_and_a_launch_is_allowed_from_any() -> None:
    assert set(ALLOWED) == set(S)
    assert all(S.INSTALLING in allowed for allowed in ALLOWED.values())


def test_a_start_publishes_starting_then_ready_and_settles(tmp_path: Path) -> None:
    lifecycle, session, events = machine(tmp_path)
    session.starting_since, session.start = 0.0, "create"
    lifecycle.move(session, S.STARTING)
    assert not session.settled.is_set()
    lifecycle.move(session, S.ACTIVE)
    assert session.settled.is_set() and session.starting_since is None
    assert published(events, session) == [ev.SESSION_STARTING, ev.SESSION_READY]


def test_failing_hibernating_and_illegal_changes(tmp_path: Path) -> None:
    lifecycle, session, events = machine(tmp_path)
    lifecycle.move(session, S.FAILED, "no vite")
    assert session.error == "no vite" and "failed: no vite" in session.logs
    with pytest.raises(IllegalTransition):
        lifecycle.move(session, S.ACTIVE)  # a failed session starts again through installing
    lifecycle.move(session, S.HIBERNATED, reason="idle")
    with pytest.raises(IllegalTransition):
        lifecycle.move(session, S.STARTING)
    assert published(events, session) == [ev.SESSION_FAILED, ev.SESSION_HIBERNATED]
    assert events._after(session.id, None)[-1].data["reason"] == "idle"


def test_a_session_nobody_holds_changes_status_without_a_word(tmp_path: Path) -> None:
    lifecycle, session, events = machine(tmp_path)
    lifecycle.registry.discard(session)
    lifecycle.move(session, S.STARTING)
    assert session.status is S.STARTING and published(events, session) == []
