"""Supervision of the sessions' dev servers: launch, monitor, restart, hibernate, release.

A launch runs in the background: the workspace reaches the disk, the backend
prepares the dependencies (``installing``) and starts the dev server
(``starting``), then the session is ``active``. :meth:`Supervisor.launch` first
makes room: the node keeps at most ``max_running_sessions`` dev servers, warm
slots given up first, then the least recently used idle sessions hibernated.

A dev server that dies is restarted from the session's files, at most
``restart_limit`` times in ``restart_window_seconds``; past that, or when a start
fails, the session fails and (``fallback_to_deployment``) a full deployment is
queued, which the proxy serves instead. Hibernation stops the dev server and keeps
the files; the next preview request or update resumes it.

The warm pool's slots are started and released here too (:class:`Supervisor` is the
pool's :class:`~kontext_preview.previews.pool.SlotHost`).
"""

import asyncio
import contextlib
import logging
import shutil
import time
from collections import deque
from collections.abc import Coroutine, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from kontext_preview.config import Settings
from kontext_preview.contract import SessionStatus, new_session_id
from kontext_preview.deploy.base import Deployment, DeploymentQueue
from kontext_preview.errors import KontextError
from kontext_preview.events import EventLog
from kontext_preview.logs import session_bound
from kontext_preview.previews.acks import AckTracker
from kontext_preview.previews.lifecycle import Lifecycle
from kontext_preview.previews.pool import WarmPool
from kontext_preview.previews.registry import SessionRegistry
from kontext_preview.previews.session import PreviewSession
from kontext_preview.sandbox.base import EventSink, Sandbox, SandboxBackend, SandboxSpec
from kontext_preview.sandbox.node_runtime import NodeRuntimes
from kontext_preview.snapshots import (
    CaptureFailed,
    PageSnapshot,
    capture,
    drop,
    files_digest,
    snapshot_folder,
)
from kontext_preview.workspace.layout import detect_layout, read_package_json
from kontext_preview.workspace.vfs import FileChange, FileLimits, VirtualFileSystem

log = logging.getLogger(__name__)
# Modules a woken dev server transforms before pages ask (they travel in the agent's
# config, one command-line argument locally: 500 URLs stay far below Linux's 128 KiB).
WARM_URLS_MAX = 500


def queue_deployment(
    deployments: DeploymentQueue,
    session: PreviewSession,
    reasons: list[str],
    *,
    fallback: bool = False,
) -> Deployment:
    """Queue a full deployment of the session's current files (``fallback``: because the
    preview cannot serve); it supersedes a queued older one."""
    layout = session.layout
    deployment = deployments.queue(
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


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        backend: SandboxBackend,
        registry: SessionRegistry,
        acks: AckTracker,
        events: EventLog,
        deployments: DeploymentQueue,
        lifecycle: Lifecycle,
    ):
        self.settings = settings
        self.lifecycle = lifecycle
        self.backend = backend
        self.registry = registry
        self.acks = acks
        self.events = events
        self.deployments = deployments
        self.limits = FileLimits.of(settings)
        self.pool = WarmPool(settings, self)
        self.runtimes = NodeRuntimes(settings)
        self._background: set[asyncio.Task[None]] = set()

    def session_dir(self, session_id: str) -> Path:
        return self.settings.data_dir / "sessions" / session_id

    def running_count(self) -> int:
        """Dev servers running or starting on this node, warm slots included."""
        return len(self.pool.slots) + sum(1 for s in self.registry if _running(s))

    def has_room(self) -> bool:
        return self.running_count() < self.settings.max_running_sessions

    # -- launching ---------------------------------------------------------------------------

    def launch(
        self, session: PreviewSession, *, adopt: bool = False, for_update: int | None = None
    ) -> None:
        """(Re)start the session's sandbox in the background (``adopt``: take over the
        one an earlier process left running, if the backend finds it; ``for_update``: the
        update that needs it, as its pages acknowledge it, negative)."""
        if session.launch_task and not session.launch_task.done():
            session.launch_task.cancel()
        previous, session.sandbox = session.sandbox, None
        if session.starting_since is None:
            session.start = _start_kind(session, previous, adopt)
            session.starting_since = time.time()
        # What pages waited for is lost with the dev server, but for a restart's reload: the
        # pages make it from the one started now.
        self.acks.drop(session, "restarted", keep_restart=True)
        self._make_room(session)
        self.lifecycle.move(session, SessionStatus.INSTALLING)
        session.launch_task = asyncio.create_task(
            self._run_launch(session, previous, adopt, for_update)
        )

    def resume(self, session: PreviewSession) -> None:
        """Wake a hibernated session (in the background)."""
        if session.status is SessionStatus.HIBERNATED:
            session.log("resuming")
            self.launch(session)

    async def wait_settled(self, session: PreviewSession, seconds: float) -> None:
        """Until the session is active, failed or hibernated, or ``seconds`` passed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(session.settled.wait(), seconds)

    async def _run_launch(
        self,
        session: PreviewSession,
        previous: Sandbox | None,
        adopt: bool,
        for_update: int | None = None,
    ) -> None:
        try:
            if previous:
                await previous.stop()
            changed = session.vfs.sync_to_disk() if not session.vfs.on_disk else []
            spec = replace(self._spec(session), launch_seq=for_update)
            sandbox = await self._adopt(session, spec, changed) if adopt else None
            if sandbox is None:
                prepared = await self.backend.prepare(spec, session.log)
                session.warnings = list(prepared.warnings)
                spec = replace(
                    spec, node=await self.runtimes.for_spec(spec, self.backend, session.log)
                )
                self.lifecycle.move(session, SessionStatus.STARTING)
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
            self.lifecycle.move(session, SessionStatus.ACTIVE)
        self.acks.launched(session)
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

    def _reporter(self, session: PreviewSession) -> EventSink:
        return lambda event: self.acks.on_agent_event(session, event)

    def _make_room(self, session: PreviewSession) -> None:
        """Keep live dev servers within ``max_running_sessions``: give up warm slots, then
        hibernate the least recently used idle sessions (in the background) to make room
        for this one (a warm slot makes none: the pool fills only free room)."""
        if not self.registry.holds(session):
            return
        running = [s for s in self.registry if s is not session and _running(s)]
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

    # -- supervision -------------------------------------------------------------------------

    async def _monitor(self, session: PreviewSession, sandbox: Sandbox) -> None:
        """A dev server that dies is restarted from the session's files, at most
        ``restart_limit`` times in ``restart_window_seconds``; then the session fails
        (and falls back to a deployment). A warm slot's is replaced."""
        code = await sandbox.wait()
        if session.sandbox is sandbox and self.pool.discard(session):
            log.warning("warm pool: slot %s stopped (exit code %s); replacing it", session.id, code)
            await self.release_slot(session)
            self.pool.refill()
            return
        if session.sandbox is not sandbox or not self.registry.holds(session):
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
            self.launch(session)
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
        self.lifecycle.move(session, SessionStatus.FAILED, message)
        self.acks.drop(session, "error", error=message)  # the pages show the failure instead
        if self.settings.fallback_to_deployment and self.registry.holds(session):
            session.fallback = message
            queue_deployment(
                self.deployments,
                session,
                [f"preview unavailable: {message[:300]}"],
                fallback=True,
            )

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
                or not self.registry.holds(session)
                or session.pending
                or (idle_since is not None and session.last_activity > idle_since)
            ):
                return
            self.acks.drop(session, "hibernated")
            await self._keep_snapshot(session)
            await self._stop_sandbox(session)
            self.lifecycle.move(session, SessionStatus.HIBERNATED, reason=reason)
        session.log(f"hibernated ({reason}): dev server stopped, files kept")

    async def _keep_snapshot(self, session: PreviewSession) -> None:
        """Keep what the session's pages loaded, for its wake (kontext_preview/snapshots.py);
        a snapshot that cannot be taken is logged and the session hibernates without."""
        sandbox = session.sandbox
        if sandbox is None:
            return
        settings = self.settings
        try:
            async with asyncio.timeout(settings.snapshot_timeout_seconds):
                requests = await sandbox.page_requests()
                key = await asyncio.to_thread(files_digest, session.vfs.files)
                endpoint = sandbox.endpoint
                snapshot = await capture(
                    snapshot_folder(settings, session.id),
                    f"http://{endpoint.host}:{endpoint.port}",
                    settings.preview_host(session.id),
                    requests,
                    key,
                    settings.snapshot_max_bytes,
                )
        except (KontextError, CaptureFailed, TimeoutError) as exc:
            reason = exc.message if isinstance(exc, KontextError) else str(exc) or "timed out"
            session.log(f"no page snapshot kept: {reason}")
            return
        if snapshot is not None:
            size = sum(e.size for e in snapshot.entries.values())
            session.log(f"page snapshot kept: {len(snapshot.entries)} responses, {size} bytes")

    def drop_snapshot(self, session: PreviewSession) -> None:
        """The session's files are about to change: its snapshot no longer shows them."""
        if drop(snapshot_folder(self.settings, session.id)):
            session.log("page snapshot dropped: the files changed")

    # -- letting go --------------------------------------------------------------------------

    async def release(self, session: PreviewSession, *, suspend: bool = False) -> None:
        """Take the session out of this process: no more events from it, its dev server
        stopped and its directory removed (``suspend``: detached, and the directory kept
        while the sandbox lives on)."""
        self.registry.discard(session)
        session.listener = None
        self.acks.forget(session)
        if session.launch_task:
            session.launch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await session.launch_task
        lives_on = await self._stop_sandbox(session, detach=suspend)
        if not lives_on:
            shutil.rmtree(self.session_dir(session.id), ignore_errors=True)

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

    async def reap_leftovers(self) -> None:
        """Remove what earlier processes on this node left for sessions that are not here:
        sandboxes still running, and session directories."""
        keep = set(self.registry.ids())  # live: a session created meanwhile is kept
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

    # -- the warm pool's slots (SlotHost) ------------------------------------------------------

    def start_slot(self, files: Mapping[str, bytes]) -> PreviewSession:
        """A session of nobody's, started on ``files`` for the warm pool (not registered)."""
        sid = new_session_id()
        vfs = VirtualFileSystem(self.session_dir(sid) / "workspace", self.limits)
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
            self.launch(slot)
        return slot

    async def release_slot(self, slot: PreviewSession) -> None:
        await self.release(slot)

    # -- what a sandbox is given -------------------------------------------------------------

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
            cache_dir=self.session_dir(session.id).resolve() / "vite-cache",
            run_dir=self.session_dir(session.id).resolve() / "run",
            package_json=read_package_json(session.vfs.files, layout.package_dir),
            public_host=settings.preview_host(session.id),
            ws_client_port=settings.effective_public_port or (443 if https else 80),
            ws_path=settings.hmr_path,
            ws_protocol="wss" if https else "ws",
            add_react_plugin=layout.framework == "vite-react" and layout.config_file is None,
            dev_server=layout.dev_server,
            generated_dirs=layout.generated_dirs,
            warm_urls=self._snapshot_modules(session),
        )

    def _snapshot_modules(self, session: PreviewSession) -> tuple[str, ...]:
        """The modules of the session's snapshot (the page a wake serves from it), the most
        recently loaded WARM_URLS_MAX of them: the dev server transforms them as it starts."""
        snapshot = PageSnapshot.read(snapshot_folder(self.settings, session.id))
        return tuple(snapshot.module_urls[-WARM_URLS_MAX:]) if snapshot else ()


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
