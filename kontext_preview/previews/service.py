"""The preview service: create, update, inspect and delete preview sessions.

The service owns each session's lifecycle. Creating validates the whole project
(names, limits, layout) before anything touches the disk, registers the session
and launches its sandbox in the background (dependencies, then Vite); callers
follow ``status`` or wait for it. Updates are serialized per session: validate,
write only the changed files, then tell the running dev server exactly which
files changed. A change to the layout or to the dependencies relaunches the
sandbox; a failed session is relaunched by the next update, so the AI can fix
a broken vite.config by sending a new one.

Every step is published as a session event (``kontext_preview.events``): the
chat app follows them over SSE. Updates shown to a browser are acknowledged by
the page (see the agent's client module), and ``update.applied`` carries the
time from receipt to the browser's acknowledgement.

Lifecycle: every session has an owner (the API key's user; other users get
SessionNotFound). ``cull`` hibernates idle sessions (dev server stopped, files
kept) and expires those past their TTL, remembering how they ended (``ended``)
so the preview can say "expired" and a create with the same id restores it.
``_make_room`` keeps live dev servers under ``max_running_sessions`` by
hibernating the least recently used idle one. ``_monitor`` restarts a dying dev
server within a budget; past it, or when a start fails, ``_fail`` falls back
to a full deployment (``kontext_preview.deploy``), which the proxy redirects to.

Sessions are kept in this process. In the embedded default this is all there
is; in distributed mode each worker node runs one PreviewService for the
sessions it hosts, and mirrors them into Redis through a ``SessionStore``.
"""

import asyncio
import contextlib
import json
import logging
import re
import secrets
import shutil
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kontext_preview import events as ev
from kontext_preview.changes import ChangeAnalysis, Strategy, analyze, policy_named
from kontext_preview.changes.kinds import FileKind, file_kind
from kontext_preview.changes.model import most_severe
from kontext_preview.config import Settings
from kontext_preview.deploy import create_deployer
from kontext_preview.deploy.base import Deployer, Deployment, DeploymentQueue
from kontext_preview.errors import KontextError, SandboxError, SessionNotFound, TooManySessions
from kontext_preview.events import EventLog, MemoryEventLog
from kontext_preview.logs import bind_session, session_bound
from kontext_preview.previews.pool import WarmPool
from kontext_preview.previews.session import (
    AckWait,
    PreviewSession,
    SessionStatus,
    new_session_id,
)
from kontext_preview.previews.store import NullStore, SessionStore
from kontext_preview.previews.updates import PendingUpdate, UpdateResult, before_and_after
from kontext_preview.sandbox.base import Sandbox, SandboxBackend, SandboxSpec, Shown
from kontext_preview.workspace.layout import (
    ProjectLayout,
    dependency_sections,
    detect_layout,
    find_vite_root,
    read_package_json,
)
from kontext_preview.workspace.vfs import ChangeSet, FileChange, FileLimits, VirtualFileSystem

log = logging.getLogger(__name__)
_SESSION_ID = re.compile(r"^[a-z0-9]{1,63}$")


@dataclass(frozen=True)
class Ended:
    """What is remembered of an ended session: whose it was, and how it ended."""

    owner: str
    reason: str  # session.deleted | session.expired
    until: float  # forgotten after this (unix s)

    @property
    def expired(self) -> bool:
        return self.reason == ev.SESSION_EXPIRED


class PreviewService:
    def __init__(
        self,
        settings: Settings,
        backend: SandboxBackend,
        deployer: Deployer | None = None,
        events: EventLog | None = None,
        store: SessionStore | None = None,
    ):
        self.settings = settings
        self.backend = backend
        self.deployments = DeploymentQueue(
            deployer or create_deployer(settings, backend), self._on_deploy_event
        )
        self.ended: OrderedDict[str, Ended] = OrderedDict()
        self._background: set[asyncio.Task[None]] = set()
        self.events = events or MemoryEventLog(
            settings.events_kept, settings.events_retention_seconds
        )
        self.store = store or NullStore()
        self.policy = policy_named(settings.change_policy, settings.change_policy_overrides)
        self.sessions: dict[str, PreviewSession] = {}
        self.pool = WarmPool(self)
        self.limits = FileLimits.of(settings)

    # -- the API's verbs -------------------------------------------------------------------

    async def create(
        self,
        files: Mapping[str, bytes],
        package_json: dict[str, Any] | None = None,
        project_type: str | None = None,
        session_id: str | None = None,
        *,
        owner: str = "local",
        new_id: str | None = None,
        keep_id: bool = True,
        adopt: bool = False,
    ) -> PreviewSession:
        """Create a session (``new_id``: with an id chosen by the caller, as the
        distributed API and a restoring worker do, kept unless ``keep_id`` is False, when a
        warm slot's id may replace it; ``adopt``: take over its sandbox if an earlier
        process left it running). Given ``session_id``: replace the files of that existing
        session, or restore it with these files if it expired."""
        files = with_package_json(files, package_json)
        if session_id is not None:
            if self.restorable(session_id, owner):
                new_id, keep_id = session_id, True
            else:
                await self.update(session_id, files, replace_all=True, owner=owner)
                return self.get(session_id, owner)
        self.check_room(owner)
        if self.pool.slots and not adopt and not (new_id and keep_id):
            checked = VirtualFileSystem(self.settings.data_dir, self.limits).plan(files)
            layout = await _detect_layout(checked.files)
            slot = await self.pool.claim(layout, checked.files)
            if slot is not None:
                return await self._take_slot(slot, checked.files, layout, owner, project_type)
        sid = new_id or new_session_id()
        bind_session(sid)
        if sid in self.sessions:
            raise KontextError(f"session {sid} already exists", status_code=409, code="conflict")
        vfs = VirtualFileSystem(self._session_dir(sid) / "workspace", self.limits)
        change_set = vfs.plan(files)
        layout = await _detect_layout(change_set.files)
        vfs.apply(change_set)
        session = PreviewSession(
            sid,
            vfs,
            layout,
            self.settings.session_ttl_seconds,
            owner=owner,
            project_type=project_type,
            logs=deque(maxlen=self.settings.log_lines),
        )
        session.listener = self._on_session
        self.sessions[sid] = session
        restored = self.ended.pop(sid, None) is not None
        log.info(
            "session %s %s for %s: %d files, %s at /%s",
            sid,
            "restored" if restored else "created",
            owner,
            len(vfs.files),
            layout.framework,
            layout.vite_root,
        )
        self._launch(session, adopt=adopt)
        return session

    async def _take_slot(
        self,
        slot: PreviewSession,
        files: Mapping[str, bytes],
        layout: ProjectLayout,
        owner: str,
        project_type: str | None,
    ) -> PreviewSession:
        """A warm slot becomes the session: the project's files replace the sample's in
        one batch, which the running dev server takes as changes."""
        bind_session(slot.id)
        async with slot.lock:
            change_set = slot.vfs.plan(files, replace_all=True)
            slot.vfs.apply(change_set)
            slot.layout = layout
            slot.owner, slot.project_type = owner, project_type
            slot.created_at = time.time()
            slot.touch()
            slot.logs.clear()
            self.sessions[slot.id] = slot
            slot.listener = self._on_session
            try:
                if change_set.changes and slot.sandbox:
                    await slot.sandbox.notify(change_set.changes, fresh=True)
            except SandboxError as exc:
                slot.log(
                    f"the warm dev server did not take the project ({exc.message}); restarting"
                )
                self._launch(slot)
                return slot
        slot.start, slot.starting_since = "warm-pool", slot.created_at
        slot.log(f"started from the warm pool ({len(change_set.changes)} files changed)")
        slot.set_status(SessionStatus.ACTIVE)
        log.info(
            "session %s created for %s from the warm pool: %d files", slot.id, owner, len(files)
        )
        self.pool.refill()
        return slot

    def start_slot(self, files: Mapping[str, bytes]) -> PreviewSession:
        """A session of nobody's, started on ``files`` for the warm pool (not registered)."""
        sid = new_session_id()
        vfs = VirtualFileSystem(self._session_dir(sid) / "workspace", self.limits)
        vfs.apply(vfs.plan(files))
        slot = PreviewSession(
            sid,
            vfs,
            detect_layout(vfs.files),
            self.settings.session_ttl_seconds,
            owner="",
            logs=deque(maxlen=self.settings.log_lines),
        )
        with session_bound(sid):  # the slot's lines carry the id it will have as a session
            self._launch(slot)
        return slot

    async def release_slot(self, slot: PreviewSession) -> None:
        await self._release(slot)

    def census(self) -> dict[str, int]:
        """Sessions by status on this node, and the warm pool's slots (``warm``)."""
        counts = Counter(s.status.value for s in self.sessions.values())
        counts["warm"] = len(self.pool.slots)
        return dict(counts)

    def running_count(self) -> int:
        """Dev servers running or starting on this node, warm slots included."""
        return len(self.pool.slots) + sum(1 for s in self.sessions.values() if _running(s))

    @property
    def capacity(self) -> int:
        return self.settings.max_running_sessions

    async def update(
        self,
        session_id: str,
        files: Mapping[str, bytes],
        deleted: Iterable[str] = (),
        *,
        replace_all: bool = False,
        owner: str | None = None,
    ) -> UpdateResult:
        """Apply an update. Updates that arrive while one is being applied are applied
        together in the next batch (one write, one notification); an update that
        finds the session idle starts at once. No timer delays anything."""
        session = self.get(session_id, owner)
        bind_session(session.id)
        session.touch()
        update_id = secrets.token_hex(8)
        session.update_seq += 1
        seq = session.update_seq
        self.events.publish(
            session.id,
            ev.UPDATE_RECEIVED,
            {"updateId": update_id, "seq": seq, "files": len(files)},
        )
        future: asyncio.Future[UpdateResult] = asyncio.get_running_loop().create_future()
        session.pending.append(
            PendingUpdate(files, tuple(deleted), replace_all, future, update_id, time.time(), seq)
        )
        if session.applier is None or session.applier.done():
            session.applier = asyncio.create_task(self._apply_pending(session))
        return await asyncio.shield(future)

    def get(self, session_id: str, owner: str | None = None) -> PreviewSession:
        """The session; another owner's is answered exactly like an unknown one."""
        session = self.sessions.get(session_id) if _SESSION_ID.match(session_id) else None
        if session is None or (owner is not None and session.owner != owner):
            raise SessionNotFound(session_id[:80])
        return session

    def ended_as(self, session_id: str, owner: str | None = None) -> Ended | None:
        """How the owner's session ended, while that is remembered."""
        ended = self.ended.get(session_id)
        if ended is None or ended.until < time.time():
            return None
        return ended if owner is None or ended.owner == owner else None

    def restorable(self, session_id: str, owner: str) -> bool:
        ended = self.ended_as(session_id, owner)
        return session_id not in self.sessions and ended is not None and ended.expired

    def owns(self, session_id: str, owner: str) -> bool:
        session = self.sessions.get(session_id)
        if session is not None:
            return session.owner == owner
        return self.ended_as(session_id, owner) is not None

    def check_room(self, owner: str) -> None:
        settings = self.settings
        if len(self.sessions) >= settings.max_sessions:
            raise TooManySessions(
                f"{len(self.sessions)} preview sessions are live on this node, the limit "
                f"(KONTEXT_MAX_SESSIONS) is {settings.max_sessions}; delete one first"
            )
        mine = sum(1 for s in self.sessions.values() if s.owner == owner)
        if mine >= settings.max_sessions_per_user:
            raise TooManySessions(
                f"you have {mine} live preview sessions, the limit per user "
                f"(KONTEXT_MAX_SESSIONS_PER_USER) is {settings.max_sessions_per_user}: delete one "
                "with DELETE /kontext/preview/{id}, or let idle ones expire"
            )

    async def delete(
        self, session_id: str, reason: str = ev.SESSION_DELETED, owner: str | None = None
    ) -> None:
        """End a session: its process, files, deployments and records go; ``reason`` is
        the last event (``session.deleted`` or ``session.expired``)."""
        session = self.get(session_id, owner)
        bind_session(session.id)
        await self._release(session)
        await self.deployments.forget(session_id)
        await self.store.removed(session_id, session.owner, reason)
        self.remember_end(session_id, session.owner, reason)
        self.events.publish(session_id, reason, {"sessionId": session_id})
        await self.events.end(session_id)
        log.info("session %s ended (%s)", session_id, reason)

    def remember_end(self, session_id: str, owner: str, reason: str) -> None:
        settings = self.settings
        keep = (
            settings.expired_retention_seconds
            if reason == ev.SESSION_EXPIRED
            else settings.events_retention_seconds
        )
        now = time.time()
        self.ended.pop(session_id, None)
        self.ended[session_id] = Ended(owner, reason, now + keep)
        while self.ended and (
            next(iter(self.ended.values())).until < now or len(self.ended) > 100_000
        ):
            self.ended.popitem(last=False)

    def queue_deployment(
        self, session: PreviewSession, reasons: list[str], *, fallback: bool = False
    ) -> Deployment:
        """Queue a full deployment of the session's current files; it supersedes a queued
        older one."""
        layout = session.layout
        deployment = self.deployments.queue(
            session.id,
            session.vfs.files,
            layout.vite_root,
            layout.package_dir,
            reasons,
            fallback=fallback,
            add_react_plugin=layout.framework == "vite-react" and layout.config_file is None,
        )
        session.log(f"deployment {deployment.id} queued: {', '.join(reasons)}")
        return deployment

    def deployment_url(self, session_id: str) -> str | None:
        return self.deployments.latest_url(session_id)

    async def hibernate(
        self, session: PreviewSession, reason: str, idle_since: float | None = None
    ) -> None:
        """Stop the dev server but keep the files; the next preview request or update
        resumes it. Waits for an update being applied; skipped if the session was used
        after ``idle_since`` (activity won the race)."""
        if session.status is not SessionStatus.ACTIVE:
            return
        async with session.lock:
            if (
                session.status is not SessionStatus.ACTIVE
                or self.sessions.get(session.id) is not session
                or session.pending
                or (idle_since is not None and session.last_activity > idle_since)
            ):
                return
            self._drop_acks(session, "hibernated")
            await self._stop_sandbox(session)
            session.set_status(SessionStatus.HIBERNATED)
        session.log(f"hibernated ({reason}): dev server stopped, files kept")
        self.events.publish(session.id, ev.SESSION_HIBERNATED, {"reason": reason})

    def resume(self, session: PreviewSession) -> None:
        """Wake a hibernated session (in the background)."""
        if session.status is SessionStatus.HIBERNATED:
            session.log("resuming")
            self._launch(session)

    async def suspend_all(self) -> None:
        """Let go of every session, keeping what the next process on this node restores
        them from (distributed mode): the records in the store, and the sandboxes that can
        outlive this process (containers, re-adopted) with their workspaces."""
        await self.pool.aclose()
        for session in list(self.sessions.values()):
            try:
                await self._release(session, suspend=True)
            except Exception:
                log.exception("could not let go of session %s", session.id)
        await self.backend.aclose()

    async def reap_leftovers(self) -> None:
        """Remove what earlier processes on this node left for sessions that are not here:
        sandboxes still running, and session directories."""
        keep = self.sessions.keys()  # live: a session created meanwhile is kept
        try:
            reaped = await self.backend.reap(keep)
        except KontextError as exc:
            reaped = []
            log.warning("could not look for sandboxes left by an earlier run: %s", exc.message)
        folders = self.settings.data_dir / "sessions"
        stale = [e for e in folders.iterdir() if e.name not in keep] if folders.is_dir() else []
        for entry in stale:
            shutil.rmtree(entry, ignore_errors=True)
        if reaped or stale:
            log.warning(
                "removed what an earlier run left: %d sandboxes, %d session directories",
                len(reaped),
                len(stale),
            )

    async def _release(self, session: PreviewSession, *, suspend: bool = False) -> None:
        """Take the session out of this process: no more events from it, its dev server
        stopped and its directory removed (``suspend``: detached, and the directory kept
        while the sandbox lives on)."""
        self.sessions.pop(session.id, None)
        session.listener = None
        for wait in session.acks.values():
            if wait.timer:
                wait.timer.cancel()
        if session.launch_task:
            session.launch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await session.launch_task
        lives_on = await self._stop_sandbox(session, detach=suspend)
        if not lives_on:
            shutil.rmtree(self._session_dir(session.id), ignore_errors=True)

    async def cull(self, now: float | None = None, *, expire: bool = True) -> list[str]:
        """The periodic cull: hibernate sessions idle for ``hibernate_after_seconds`` and
        (``expire``) end those idle longer than their TTL. A failure for one session is
        logged and never stops the sweep. Returns the expired ids."""
        now = time.time() if now is None else now
        expired = []
        for session in list(self.sessions.values()):
            with session_bound(session.id):
                try:
                    if expire and session.expires_at <= now:
                        await self.delete(session.id, ev.SESSION_EXPIRED)
                        expired.append(session.id)
                    elif (
                        session.status is SessionStatus.ACTIVE
                        and now - session.last_activity >= self.settings.hibernate_after_seconds
                        and not session.pending
                    ):
                        await self.hibernate(session, "idle", session.last_activity)
                except SessionNotFound:
                    pass
                except Exception:
                    log.exception("cull: could not hibernate or expire session %s", session.id)
        return expired

    async def wait_settled(self, session: PreviewSession, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(session.settled.wait(), seconds)

    async def shutdown(self) -> None:
        await self.pool.aclose()
        for session_id in list(self.sessions):
            try:
                await self.delete(session_id)
            except Exception:
                log.exception("could not clean up session %s", session_id)
        await self.deployments.aclose()
        await self.backend.aclose()
        await self.events.flush()

    # -- the sandbox's lifecycle -------------------------------------------------------------

    def _launch(self, session: PreviewSession, *, adopt: bool = False) -> None:
        """(Re)start the session's sandbox in the background (``adopt``: take over the
        one an earlier process left running, if the backend finds it)."""
        if session.launch_task and not session.launch_task.done():
            session.launch_task.cancel()
        previous, session.sandbox = session.sandbox, None
        if session.starting_since is None:
            session.start = _start_kind(session, previous, adopt)
            session.starting_since = time.time()
        self._drop_acks(session, "restarted")
        self._make_room(session)
        session.set_status(SessionStatus.INSTALLING)
        session.launch_task = asyncio.create_task(self._run_launch(session, previous, adopt))

    async def _run_launch(
        self, session: PreviewSession, previous: Sandbox | None, adopt: bool
    ) -> None:
        try:
            if previous:
                await previous.stop()
            changed = session.vfs.sync_to_disk() if not session.vfs.on_disk else []
            spec = self._spec(session)
            sandbox = await self._adopt(session, spec, changed) if adopt else None
            if sandbox is None:
                await self.backend.prepare(spec, session.log)
                session.set_status(SessionStatus.STARTING)
                sandbox = await self.backend.start(spec, session.log, self._reporter(session))
        except KontextError as exc:
            await self._fail(session, exc.message)
            return
        except OSError as exc:
            await self._fail(session, f"could not prepare the session on disk: {exc}")
            return
        except Exception as exc:
            log.exception("session %s: launch failed", session.id)
            await self._fail(session, f"internal error while starting: {type(exc).__name__}")
            return
        async with session.lock:
            session.sandbox = sandbox
            session.set_status(SessionStatus.ACTIVE)
        session.monitor_task = asyncio.create_task(self._monitor(session, sandbox))

    async def _adopt(
        self, session: PreviewSession, spec: SandboxSpec, changed: list[FileChange]
    ) -> Sandbox | None:
        sandbox = await self.backend.adopt(spec, session.log, self._reporter(session))
        if sandbox is not None:
            session.log(f"took over the running sandbox ({len(changed)} files brought up to date)")
            if changed:
                await sandbox.notify(changed)
        return sandbox

    def _reporter(self, session: PreviewSession) -> Callable[[dict[str, Any]], None]:
        return lambda event: self._on_agent_event(session, event)

    def _make_room(self, session: PreviewSession) -> None:
        """Keep live dev servers within ``max_running_sessions``: give up warm slots, then
        hibernate the least recently used idle sessions (in the background) to make room
        for this one (a warm slot makes none: the pool fills only free room)."""
        if self.sessions.get(session.id) is not session:
            return
        running = [s for s in self.sessions.values() if s is not session and _running(s)]
        excess = len(running) + len(self.pool.slots) + 1 - self.settings.max_running_sessions
        for slot in self.pool.give_up(max(excess, 0)):
            excess -= 1
            self._in_background(self.release_slot(slot))
        if excess <= 0:
            return
        idle = sorted(
            (
                s
                for s in running
                if s.status is SessionStatus.ACTIVE and not s.pending and not s.lock.locked()
            ),
            key=lambda s: s.last_activity,
        )
        for victim in idle[:excess]:
            self._in_background(self.hibernate(victim, "node full", victim.last_activity))
        if len(idle) < excess:
            log.warning(
                "%d dev servers are starting or busy; over KONTEXT_MAX_RUNNING_SESSIONS (%d) "
                "until they settle",
                len(running) + 1,
                self.settings.max_running_sessions,
            )

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _monitor(self, session: PreviewSession, sandbox: Sandbox) -> None:
        """Supervision: a dev server that dies is restarted from the session's files, at
        most ``restart_limit`` times in ``restart_window_seconds``; then the session
        fails (and falls back to a deployment). A warm slot's is replaced."""
        code = await sandbox.wait()
        if session.sandbox is sandbox and self.pool.discard(session):
            log.warning("warm pool: slot %s stopped (exit code %s); replacing it", session.id, code)
            await self.release_slot(session)
            self.pool.refill()
            return
        if session.sandbox is not sandbox or self.sessions.get(session.id) is not session:
            return
        settings = self.settings
        now = time.monotonic()
        session.crashes.append(now)
        while session.crashes and now - session.crashes[0] > settings.restart_window_seconds:
            session.crashes.popleft()
        tail = " | ".join(list(session.logs)[-5:])
        if len(session.crashes) <= settings.restart_limit:
            session.log(
                f"the Vite dev server stopped unexpectedly (exit code {code}); restarting it "
                f"({len(session.crashes)} of {settings.restart_limit} restarts allowed in "
                f"{settings.restart_window_seconds:g} s)"
            )
            self._launch(session)
            return
        await self._fail(
            session,
            f"the Vite dev server kept stopping ({len(session.crashes)} times in "
            f"{settings.restart_window_seconds:g} s, last exit code {code}): {tail}",
        )

    async def _fail(self, session: PreviewSession, message: str) -> None:
        """No dev server; the files and installed dependencies stay on disk (until the
        session is deleted or expires), so the update that fixes the project starts it
        without installing again."""
        await self._stop_sandbox(session)
        session.set_status(SessionStatus.FAILED, message)
        if self.settings.fallback_to_deployment and self.sessions.get(session.id) is session:
            session.fallback = message
            self.queue_deployment(session, [f"preview unavailable: {message[:300]}"], fallback=True)

    async def _stop_sandbox(self, session: PreviewSession, *, detach: bool = False) -> bool:
        """Stop the session's sandbox (``detach``: let go of it); True if it lives on."""
        sandbox, session.sandbox = session.sandbox, None
        if session.monitor_task and session.monitor_task is not asyncio.current_task():
            session.monitor_task.cancel()
        if sandbox is None:
            return False
        if detach:
            return await sandbox.detach()
        await sandbox.stop()
        return False

    # -- updates ------------------------------------------------------------------------------

    async def _apply_pending(self, session: PreviewSession) -> None:
        while session.pending:
            batch, session.pending = session.pending, []
            try:
                async with session.lock:
                    await self.apply_batch(session, batch)
            except BaseException as exc:
                error = exc if isinstance(exc, Exception) else KontextError("update interrupted")
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(error)
                if not isinstance(exc, Exception):
                    raise

    async def apply_batch(self, session: PreviewSession, batch: list[PendingUpdate]) -> None:
        """Apply updates together: one write and one notification for all of them. Every
        update's future gets its result or its own error (a rejected update fails alone).
        Call with ``session.lock`` held.

        What the browser waits for comes first: validate, write, tell Vite, and only then
        analyse, when no stylesheet changed (the analysis chooses between CSS injection
        and Vite's HMR, and anything but a stylesheet goes to Vite either way)."""
        started = time.perf_counter()
        state, layout = session.vfs.files, session.layout
        accepted: list[tuple[PendingUpdate, ChangeSet, dict[str, bytes]]] = []
        for pending in batch:
            try:
                change_set = session.vfs.plan(
                    pending.files, pending.deleted, replace_all=pending.replace_all, base=state
                )
                new_layout = (
                    await _detect_layout(change_set.files)
                    if _may_move_layout(change_set)
                    else layout
                )
            except KontextError as exc:
                pending.future.set_exception(exc)  # this request only; the rest go on
                continue
            accepted.append((pending, change_set, state))
            state, layout = change_set.files, new_layout
        if not accepted:
            return
        written = time.perf_counter()
        combined = session.vfs.diff(state)
        restart = self._needs_restart(session, layout, combined)
        session.vfs.apply(combined)
        session.layout = layout
        timings = {"writeMs": _ms(written)}
        show_now = not any(file_kind(c.path) is FileKind.STYLESHEET for c in combined.changes)
        if show_now:
            shown = await self._bring_up_to_date(session, combined, restart, None, timings)
        analyses = [self._analyze(before, change_set) for _, change_set, before in accepted]
        strategy = most_severe(a.strategy for a, _ in analyses)
        if not show_now:
            shown = await self._bring_up_to_date(session, combined, restart, strategy, timings)
        deployment = None
        if strategy is Strategy.FULL_DEPLOY:
            reasons = [f"{f.name}: {f.change_class}" for a, _ in analyses for f in a.deciding]
            deployment = self.queue_deployment(session, reasons)
        log.debug("session %s: batch of %d in %.1f ms", session.id, len(batch), _ms(started))
        results = []
        for (pending, change_set, _), (analysis, analyze_ms) in zip(
            accepted, analyses, strict=True
        ):
            result = UpdateResult(
                change_set.written,
                change_set.deleted,
                change_set.unchanged,
                analysis,
                shown.reached,
                restart,
                len(accepted),
                deployment,
                pending.update_id,
                {"analyzeMs": analyze_ms, **timings},
                pending.seq,
            )
            results.append((pending, result))
        self._report_applied(session, shown, results)
        for pending, result in results:
            pending.future.set_result(result)

    def _analyze(
        self, before: dict[str, bytes], change_set: ChangeSet
    ) -> tuple[ChangeAnalysis, float]:
        began = time.perf_counter()
        return analyze(*before_and_after(before, change_set), self.policy), _ms(began)

    async def _bring_up_to_date(
        self,
        session: PreviewSession,
        combined: ChangeSet,
        restart: bool,
        strategy: Strategy | None,
        timings: dict[str, float],
    ) -> Shown:
        """(Re)start the sandbox if it must, else show the changes (``strategy`` None: by
        Vite's HMR); ``notifyMs`` goes into ``timings``."""
        began = time.perf_counter()
        shown = Shown(affected=[])
        if restart or session.status in (SessionStatus.FAILED, SessionStatus.HIBERNATED):
            self._launch(session)
        elif session.status is SessionStatus.ACTIVE and combined.changes:
            shown = await self._show(session, combined.changes, strategy or Strategy.PREVIEW_UPDATE)
        timings["notifyMs"] = _ms(began)
        return shown

    async def _show(
        self, session: PreviewSession, changes: list[FileChange], strategy: Strategy
    ) -> Shown:
        """Bring running previews up to date: inject CSS, or let Vite's HMR do it."""
        assert session.sandbox
        try:
            if strategy is Strategy.CSS_INJECTION:
                stylesheets = [c.path for c in changes if c.event == "change"]
                others = [c for c in changes if c.event != "change"]
                injected = await session.sandbox.inject_css(stylesheets)
                if not others:
                    return injected
                notified = await session.sandbox.notify(others)
                return Shown(
                    injected.affected + notified.affected,
                    injected.injected,
                    injected.seq if injected.seq is not None else notified.seq,
                    max(injected.clients, notified.clients),
                )
            return await session.sandbox.notify(changes)
        except SandboxError as exc:
            session.log(f"notify failed: {exc.message}")
            return Shown(affected=[])

    # -- events: what the chat app sees ----------------------------------------------------

    def _report_applied(
        self,
        session: PreviewSession,
        shown: Shown,
        results: list[tuple[PendingUpdate, UpdateResult]],
    ) -> None:
        """Publish update.applied for each update: at once if no browser will acknowledge
        it, else when the first page does (or the wait times out)."""
        applied = [
            {
                "updateId": r.update_id,
                "seq": r.seq,
                "updated": r.updated,
                "deleted": r.deleted,
                "strategy": r.analysis.strategy.value,
                "batchSize": r.batch_size,
                "hmrTriggered": r.hmr_triggered,
                "restarted": r.restarted,
                "timings": {
                    **r.timings,
                    "serverMs": round((time.time() - p.received_at) * 1000, 2),
                },
                "browserAppliedMs": None,
                "browserAck": "none",
            }
            for p, r in results
        ]
        received = [p.received_at for p, _ in results]
        if shown.seq is None or shown.clients == 0:
            for data in applied:
                self.events.publish(session.id, ev.UPDATE_APPLIED, data)
            return
        wait = AckWait(applied, received)
        seq = shown.seq
        wait.timer = asyncio.get_running_loop().call_later(
            self.settings.browser_ack_timeout_seconds,
            lambda: self._complete_ack(session, seq, "timeout", None),
        )
        session.acks[seq] = wait

    def _complete_ack(
        self, session: PreviewSession, seq: int, kind: str, acked_at: float | None
    ) -> None:
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

    def _drop_acks(self, session: PreviewSession, kind: str) -> None:
        for seq in list(session.acks):
            self._complete_ack(session, seq, kind, None)

    def _on_agent_event(self, session: PreviewSession, event: dict[str, Any]) -> None:
        if self.sessions.get(session.id) is not session:
            return
        if event.get("type") == "ack":
            at = event.get("at")
            self._complete_ack(
                session,
                int(event.get("seq", -1)),
                str(event.get("kind", "update")),
                float(at) if isinstance(at, int | float) else None,
            )
        elif event.get("type") == "preview-error":
            fields = ("kind", "message", "file", "line", "column", "frame", "stack", "plugin")
            data = {k: event[k] for k in fields if event.get(k) is not None}
            session.log(f"{data.get('kind', 'error')} error: {data.get('message', '')[:300]}")
            self.events.publish(session.id, ev.PREVIEW_ERROR, data)

    def _on_session(self, session: PreviewSession, kind: str, data: dict[str, Any]) -> None:
        """A session logged a line or changed status: publish it and keep the store current."""
        if kind == "log":
            if session.status is SessionStatus.INSTALLING:
                self.events.publish(session.id, ev.INSTALL_PROGRESS, {"line": data["line"]})
            self.store.logged(session, data["line"])
            return
        status = session.status
        if status in (SessionStatus.INSTALLING, SessionStatus.STARTING):
            self.events.publish(session.id, ev.SESSION_STARTING, {"phase": status.value})
        elif status is SessionStatus.ACTIVE:
            session.fallback = None
            ready: dict[str, Any] = {"previewUrl": self.settings.preview_url(session.id)}
            if session.starting_since is not None:
                ready["start"] = session.start
                ready["startMs"] = round((time.time() - session.starting_since) * 1000, 1)
                session.starting_since = None
            self.events.publish(session.id, ev.SESSION_READY, ready)
        elif status is SessionStatus.FAILED:
            self.events.publish(session.id, ev.SESSION_FAILED, {"error": session.error})
        self.store.saved(session)

    def _on_deploy_event(self, session_id: str, kind: str, data: dict[str, Any]) -> None:
        """A deployment moved on: publish it, log it, keep the store current."""
        self.events.publish(session_id, kind, data)
        session = self.sessions.get(session_id)
        if session is None:
            return
        if kind == ev.DEPLOY_SUCCEEDED:
            session.log(f"deployment {data['deploymentId']} succeeded: {data.get('url') or ''}")
        elif kind == ev.DEPLOY_FAILED:
            session.log(f"deployment {data['deploymentId']} failed: {data.get('error')}")
        if kind != ev.DEPLOY_PROGRESS:
            self.store.saved(session)

    def _needs_restart(
        self, session: PreviewSession, layout: ProjectLayout, change_set: ChangeSet
    ) -> bool:
        if layout != session.layout:
            return True
        if not any(c.path == layout.package_json_path for c in change_set.changes):
            return False
        old = read_package_json(session.vfs.files, layout.package_dir)
        new = read_package_json(change_set.files, layout.package_dir)
        return dependency_sections(old) != dependency_sections(new)

    def _spec(self, session: PreviewSession) -> SandboxSpec:
        settings = self.settings
        workspace = session.vfs.root.resolve()
        layout = session.layout
        https = settings.public_scheme == "https"
        return SandboxSpec(
            session_id=session.id,
            workspace=workspace,
            vite_root=workspace / layout.vite_root,
            package_dir=workspace / layout.package_dir,
            cache_dir=self._session_dir(session.id).resolve() / "vite-cache",
            run_dir=self._session_dir(session.id).resolve() / "run",
            package_json=read_package_json(session.vfs.files, layout.package_dir),
            public_host=settings.preview_host(session.id),
            ws_client_port=settings.effective_public_port or (443 if https else 80),
            ws_path=settings.hmr_path,
            ws_protocol="wss" if https else "ws",
            add_react_plugin=layout.framework == "vite-react" and layout.config_file is None,
        )

    def _session_dir(self, session_id: str) -> Path:
        return self.settings.data_dir / "sessions" / session_id


def with_package_json(
    files: Mapping[str, bytes], package_json: dict[str, Any] | None
) -> Mapping[str, bytes]:
    """The request's ``packageJson`` becomes the package.json next to the app's index.html."""
    if package_json is None:
        return files
    vite_root = find_vite_root(files)
    name = f"{vite_root}/package.json" if vite_root else "package.json"
    return {**files, name: json.dumps(package_json, indent=2).encode()}


def _start_kind(session: PreviewSession, previous: Sandbox | None, adopt: bool) -> str:
    if adopt:
        return "adopt"
    if session.status is SessionStatus.HIBERNATED:
        return "resume"
    if previous or session.crashes or session.status is SessionStatus.FAILED:
        return "restart"
    return "create"


def _running(session: PreviewSession) -> bool:
    launching = session.launch_task is not None and not session.launch_task.done()
    return session.sandbox is not None or launching


async def _detect_layout(files: Mapping[str, bytes]) -> ProjectLayout:
    """detect_layout off the event loop: a package.json not seen before is checked by a
    Node process (npm's spec parser, about 60 ms), which must not hold up other sessions."""
    return await asyncio.to_thread(detect_layout, files)


def _may_move_layout(change_set: ChangeSet) -> bool:
    """A layout depends on which files exist and on what package.json files hold: edits of
    other files' content (most updates) leave it as it was."""
    return any(
        c.event != "change" or c.path.rsplit("/", 1)[-1] == "package.json"
        for c in change_set.changes
    )


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
