"""The preview service: create, update, inspect and delete preview sessions.

The service owns each session's lifecycle. Creating validates the whole project
(names, limits, layout) before anything touches the disk, registers the session
and launches its sandbox in the background (dependencies, then Vite); callers
follow ``status`` or wait for it. Updates are serialized per session: validate,
write only the changed files, then tell the running dev server exactly which
files changed. A change to the layout or to the dependencies relaunches the
sandbox; a failed session is relaunched by the next update, so the AI can fix
a broken vite.config by sending a new one.

Sessions are kept in this process (the embedded default); distributed mode
keeps the registry in Redis.
"""

import asyncio
import contextlib
import json
import logging
import re
import shutil
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kontext_preview.changes import ChangeAnalysis, Strategy, analyze, policy_named
from kontext_preview.changes.model import most_severe
from kontext_preview.config import Settings
from kontext_preview.deploy.base import Deployer, QueuedDeployments
from kontext_preview.errors import KontextError, SandboxError, SessionNotFound, TooManySessions
from kontext_preview.previews.session import PreviewSession, SessionStatus, new_session_id
from kontext_preview.previews.updates import PendingUpdate, UpdateResult, before_and_after
from kontext_preview.sandbox.base import Sandbox, SandboxBackend, SandboxSpec
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


class PreviewService:
    def __init__(
        self, settings: Settings, backend: SandboxBackend, deployer: Deployer | None = None
    ):
        self.settings = settings
        self.backend = backend
        self.deployer = deployer or QueuedDeployments()
        self.policy = policy_named(settings.change_policy, settings.change_policy_overrides)
        self.sessions: dict[str, PreviewSession] = {}
        self.limits = FileLimits(
            max_files=settings.max_files,
            max_file_bytes=settings.max_file_bytes,
            max_total_bytes=settings.max_session_bytes,
            max_path_length=settings.max_path_length,
        )

    # -- the API's verbs -------------------------------------------------------------------

    async def create(
        self,
        files: Mapping[str, bytes],
        package_json: dict[str, Any] | None = None,
        project_type: str | None = None,
        session_id: str | None = None,
    ) -> PreviewSession:
        files = _with_package_json(files, package_json)
        if session_id is not None:
            await self.update(session_id, files, replace_all=True)
            return self.get(session_id)
        if len(self.sessions) >= self.settings.max_sessions:
            raise TooManySessions(
                f"{len(self.sessions)} preview sessions are live, the limit "
                f"(KONTEXT_MAX_SESSIONS) is {self.settings.max_sessions}; delete one first"
            )
        sid = new_session_id()
        vfs = VirtualFileSystem(self._session_dir(sid) / "workspace", self.limits)
        change_set = vfs.plan(files)
        layout = detect_layout(change_set.files)
        vfs.apply(change_set)
        session = PreviewSession(
            sid,
            vfs,
            layout,
            self.settings.session_ttl_seconds,
            project_type=project_type,
            logs=deque(maxlen=self.settings.log_lines),
        )
        self.sessions[sid] = session
        log.info(
            "session %s created: %d files, %s at /%s",
            sid,
            len(vfs.files),
            layout.framework,
            layout.vite_root,
        )
        self._launch(session)
        return session

    async def update(
        self,
        session_id: str,
        files: Mapping[str, bytes],
        deleted: Iterable[str] = (),
        *,
        replace_all: bool = False,
    ) -> UpdateResult:
        """Apply an update. Updates that arrive while one is being applied are applied
        together in the next batch (one write, one notification); an update that
        finds the session idle starts at once. No timer delays anything."""
        session = self.get(session_id)
        session.touch()
        future: asyncio.Future[UpdateResult] = asyncio.get_running_loop().create_future()
        session.pending.append(PendingUpdate(files, tuple(deleted), replace_all, future))
        if session.applier is None or session.applier.done():
            session.applier = asyncio.create_task(self._apply_pending(session))
        return await asyncio.shield(future)

    def get(self, session_id: str) -> PreviewSession:
        session = self.sessions.get(session_id) if _SESSION_ID.match(session_id) else None
        if session is None:
            raise SessionNotFound(session_id[:80])
        return session

    async def delete(self, session_id: str) -> None:
        session = self.get(session_id)
        del self.sessions[session_id]
        if session.launch_task:
            session.launch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await session.launch_task
        await self._stop_sandbox(session)
        shutil.rmtree(self._session_dir(session_id), ignore_errors=True)
        await self.deployer.forget(session_id)
        log.info("session %s deleted", session_id)

    async def wait_settled(self, session: PreviewSession, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(session.settled.wait(), seconds)

    async def shutdown(self) -> None:
        for session_id in list(self.sessions):
            try:
                await self.delete(session_id)
            except Exception:
                log.exception("could not clean up session %s", session_id)
        await self.backend.aclose()

    # -- the sandbox's lifecycle -------------------------------------------------------------

    def _launch(self, session: PreviewSession) -> None:
        """(Re)start the session's sandbox in the background."""
        if session.launch_task and not session.launch_task.done():
            session.launch_task.cancel()
        previous, session.sandbox = session.sandbox, None
        session.set_status(SessionStatus.INSTALLING)
        session.launch_task = asyncio.create_task(self._run_launch(session, previous))

    async def _run_launch(self, session: PreviewSession, previous: Sandbox | None) -> None:
        try:
            if previous:
                await previous.stop()
            if not session.vfs.on_disk:
                session.vfs.sync_to_disk()
            spec = self._spec(session)
            await self.backend.prepare(spec, session.log)
            session.set_status(SessionStatus.STARTING)
            sandbox = await self.backend.start(spec, session.log)
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

    async def _monitor(self, session: PreviewSession, sandbox: Sandbox) -> None:
        code = await sandbox.wait()
        if session.sandbox is sandbox and self.sessions.get(session.id) is session:
            tail = " | ".join(list(session.logs)[-5:])
            await self._fail(
                session, f"the Vite dev server stopped unexpectedly (exit code {code}): {tail}"
            )

    async def _fail(self, session: PreviewSession, message: str) -> None:
        await self._stop_sandbox(session)
        session.vfs.remove_from_disk()
        shutil.rmtree(self._session_dir(session.id), ignore_errors=True)
        session.set_status(SessionStatus.FAILED, message)

    async def _stop_sandbox(self, session: PreviewSession) -> None:
        sandbox, session.sandbox = session.sandbox, None
        if session.monitor_task and session.monitor_task is not asyncio.current_task():
            session.monitor_task.cancel()
        if sandbox:
            await sandbox.stop()

    # -- updates ------------------------------------------------------------------------------

    async def _apply_pending(self, session: PreviewSession) -> None:
        while session.pending:
            batch, session.pending = session.pending, []
            try:
                async with session.lock:
                    await self._apply_batch(session, batch)
            except BaseException as exc:
                error = exc if isinstance(exc, Exception) else KontextError("update interrupted")
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(error)
                if not isinstance(exc, Exception):
                    raise

    async def _apply_batch(self, session: PreviewSession, batch: list[PendingUpdate]) -> None:
        state, layout = session.vfs.files, session.layout
        accepted: list[tuple[PendingUpdate, ChangeSet, ChangeAnalysis]] = []
        for pending in batch:
            try:
                change_set = session.vfs.plan(
                    pending.files, pending.deleted, replace_all=pending.replace_all, base=state
                )
                new_layout = detect_layout(change_set.files)
                analysis = analyze(*before_and_after(state, change_set), self.policy)
            except KontextError as exc:
                pending.future.set_exception(exc)  # this request only; the rest go on
                continue
            state, layout = change_set.files, new_layout
            accepted.append((pending, change_set, analysis))
        if not accepted:
            return
        combined = session.vfs.diff(state)
        restart = self._needs_restart(session, layout, combined)
        session.vfs.apply(combined)
        session.layout = layout
        strategy = most_severe(a.strategy for _, _, a in accepted)
        shown = False
        if restart or session.status is SessionStatus.FAILED:
            self._launch(session)
        elif session.status is SessionStatus.ACTIVE and combined.changes:
            shown = await self._show(session, combined.changes, strategy)
        deployment = None
        if strategy is Strategy.FULL_DEPLOY:
            reasons = [f"{f.name}: {f.change_class}" for _, _, a in accepted for f in a.deciding]
            deployment = await self.deployer.queue(session.id, reasons)
            session.log(f"deployment {deployment.id} queued: {', '.join(reasons)}")
        for pending, change_set, analysis in accepted:
            pending.future.set_result(
                UpdateResult(
                    change_set.written,
                    change_set.deleted,
                    change_set.unchanged,
                    analysis,
                    shown,
                    restart,
                    len(accepted),
                    deployment,
                )
            )

    async def _show(
        self, session: PreviewSession, changes: list[FileChange], strategy: Strategy
    ) -> bool:
        """Bring running previews up to date: inject CSS, or let Vite's HMR do it."""
        assert session.sandbox
        try:
            if strategy is Strategy.CSS_INJECTION:
                stylesheets = [c.path for c in changes if c.event == "change"]
                others = [c for c in changes if c.event != "change"]
                result = await session.sandbox.inject_css(stylesheets)
                affected = result.affected + (
                    await session.sandbox.notify(others) if others else []
                )
                return bool(result.injected or affected)
            return bool(await session.sandbox.notify(changes))
        except SandboxError as exc:
            session.log(f"notify failed: {exc.message}")
            return False

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
            package_json=read_package_json(session.vfs.files, layout.package_dir),
            public_host=settings.preview_host(session.id),
            ws_client_port=settings.effective_public_port or (443 if https else 80),
            ws_path=settings.hmr_path,
            ws_protocol="wss" if https else "ws",
            add_react_plugin=layout.framework == "vite-react" and layout.config_file is None,
        )

    def _session_dir(self, session_id: str) -> Path:
        return self.settings.data_dir / "sessions" / session_id


def _with_package_json(
    files: Mapping[str, bytes], package_json: dict[str, Any] | None
) -> Mapping[str, bytes]:
    """The request's ``packageJson`` becomes the package.json next to the app's index.html."""
    if package_json is None:
        return files
    vite_root = find_vite_root(files)
    name = f"{vite_root}/package.json" if vite_root else "package.json"
    return {**files, name: json.dumps(package_json, indent=2).encode()}
