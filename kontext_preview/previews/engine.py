"""The session engine: the sessions this process runs, from create to delete.

It is thin: each job is a part of its own, and the engine wires them together and
holds the verbs.

* :class:`~kontext_preview.previews.registry.SessionRegistry`: which sessions
  live here, whose they are, and how ended ones ended;
* :class:`~kontext_preview.previews.supervisor.Supervisor`: launch, monitor,
  restart, hibernate and release dev servers, and the warm pool's slots;
* :class:`~kontext_preview.previews.applier.UpdateApplier`: the update path;
* :class:`~kontext_preview.previews.acks.AckTracker`: browsers' acknowledgements
  and their errors, as ``update.applied`` and ``preview.error``.

Creating validates the whole project (names, limits, layout) before anything
touches the disk, registers the session and launches its sandbox in the
background; callers follow the events or :meth:`SessionEngine.wait_settled`.
:meth:`SessionEngine.update` is the one entry point for an update in both modes:
the embedded API calls it directly, a worker node with the number and id the
distributed API gave the update. Every step is published as a session event
(``kontext_preview.events``) and, in distributed mode, mirrored into Redis through a
:class:`~kontext_preview.previews.store.SessionStore`.
"""

import asyncio
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from kontext_preview import events as ev
from kontext_preview.changes import policy_named
from kontext_preview.config import Settings
from kontext_preview.contract import SessionFacts, SessionStatus, new_session_id
from kontext_preview.deploy import create_deployer
from kontext_preview.deploy.base import Deployer, DeploymentQueue
from kontext_preview.errors import KontextError, SandboxError, SessionNotFound
from kontext_preview.events import EventLog, MemoryEventLog, received_event
from kontext_preview.logs import bind_session, session_bound
from kontext_preview.previews.acks import AckTracker
from kontext_preview.previews.applier import UpdateApplier, detect_layout_off_loop
from kontext_preview.previews.lifecycle import Lifecycle
from kontext_preview.previews.registry import SessionRegistry
from kontext_preview.previews.session import PreviewSession
from kontext_preview.previews.store import NullStore, SessionStore
from kontext_preview.previews.supervisor import Supervisor
from kontext_preview.previews.updates import PendingUpdate, UpdateResult, deployment_facts
from kontext_preview.sandbox.base import SandboxBackend
from kontext_preview.workspace.layout import ProjectLayout, find_vite_root
from kontext_preview.workspace.vfs import FileLimits, VirtualFileSystem

log = logging.getLogger(__name__)


class SessionEngine:
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
        self.events = events or MemoryEventLog(
            settings.events_kept, settings.events_retention_seconds
        )
        self.store = store or NullStore()
        self.limits = FileLimits.of(settings)
        self.deployments = DeploymentQueue(
            deployer or create_deployer(settings, backend),
            self._on_deploy_event,
            quiet_seconds=settings.deploy_quiet_seconds,
        )
        self.registry = SessionRegistry(settings)
        self.acks = AckTracker(settings, self.events, self.registry)
        self.lifecycle = Lifecycle(settings, self.events, self.store, self.registry)
        self.supervisor = Supervisor(
            settings,
            backend,
            self.registry,
            self.acks,
            self.events,
            self.deployments,
            self.lifecycle,
        )
        self.pool = self.supervisor.pool
        self.applier = UpdateApplier(
            policy_named(settings.change_policy, settings.change_policy_overrides),
            self.supervisor,
            self.acks,
            self.deployments,
            settings.analysis_max_bytes,
            settings.analysis_budget_ms / 1000,
        )

    # -- the verbs -----------------------------------------------------------------------------

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
        session, or restore it with these files if it expired.

        Raises KontextError: InvalidFileName / LimitExceeded (nothing written),
        TooManySessions, a 409 ``conflict`` for an id in use."""
        files = with_package_json(files, package_json)
        if session_id is not None:
            if self.registry.restorable(session_id, owner):
                new_id, keep_id = session_id, True
            else:
                await self.update(session_id, files, replace_all=True, owner=owner)
                return self.registry.get(session_id, owner)
        self.registry.check_room(owner)
        if self.pool.slots and not adopt and not (new_id and keep_id):
            checked = VirtualFileSystem(self.settings.data_dir, self.limits).plan(files)
            layout = await detect_layout_off_loop(checked.files)
            slot = await self.pool.claim(layout, checked.files)
            if slot is not None:
                return await self._take_slot(slot, checked.files, layout, owner, project_type)
        sid = new_id or new_session_id()
        bind_session(sid)
        if self.registry.find(sid) is not None:
            raise KontextError(f"session {sid} already exists", status_code=409, code="conflict")
        vfs = VirtualFileSystem(self.supervisor.session_dir(sid) / "workspace", self.limits)
        change_set = vfs.plan(files)
        layout = await detect_layout_off_loop(change_set.files)
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
        restored = self.registry.add(session)
        log.info(
            "session %s %s for %s: %d files, %s at /%s",
            sid,
            "restored" if restored else "created",
            owner,
            len(vfs.files),
            layout.framework,
            layout.vite_root,
        )
        self.supervisor.launch(session, adopt=adopt)
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
            self.registry.add(slot)
            slot.listener = self._on_session
            try:
                if change_set.changes and slot.sandbox:
                    await slot.sandbox.notify(change_set.changes, fresh=True)
            except SandboxError as exc:
                slot.log(
                    f"the warm dev server did not take the project ({exc.message}); restarting"
                )
                self.supervisor.launch(slot)
                return slot
        slot.start, slot.starting_since = "warm-pool", slot.created_at
        slot.log(f"started from the warm pool ({len(change_set.changes)} files changed)")
        self.lifecycle.move(slot, SessionStatus.ACTIVE)
        log.info(
            "session %s created for %s from the warm pool: %d files", slot.id, owner, len(files)
        )
        self.pool.refill()
        return slot

    async def update(
        self,
        session_id: str,
        files: Mapping[str, bytes],
        deleted: Iterable[str] = (),
        *,
        replace_all: bool = False,
        owner: str | None = None,
        update_id: str | None = None,
        seq: int | None = None,
        received_at: float | None = None,
    ) -> UpdateResult:
        """Apply an update (``replace_all``: files not sent are deleted) and answer once
        the files are written and the dev server told.

        The one entry point in both modes. Embedded, the engine numbers the update
        (``seq``) and publishes ``update.received``; a worker node passes the id, the
        number and the receipt time the distributed API gave it (which published
        ``update.received`` already). Raises SessionNotFound, or the update's own
        KontextError (invalid names, limits), which leaves the files as they were."""
        session = self.registry.get(session_id, owner)
        bind_session(session.id)
        session.touch()
        update_id = update_id or secrets.token_hex(8)
        if seq is None:
            session.update_seq += 1
            seq = session.update_seq
            self.events.publish(
                session.id, ev.UPDATE_RECEIVED, received_event(update_id, seq, len(files))
            )
        else:
            session.update_seq = max(session.update_seq, seq)
        pending = PendingUpdate(
            files,
            tuple(deleted),
            replace_all,
            asyncio.get_running_loop().create_future(),
            update_id,
            received_at or time.time(),
            seq,
        )
        return await self.applier.submit(session, pending)

    def get(self, session_id: str, owner: str | None = None) -> PreviewSession:
        """The session; SessionNotFound for an unknown one or another owner's."""
        return self.registry.get(session_id, owner)

    def find(self, session_id: str) -> PreviewSession | None:
        return self.registry.find(session_id)

    def resume(self, session: PreviewSession) -> None:
        self.supervisor.resume(session)

    async def wait_settled(self, session: PreviewSession, seconds: float) -> None:
        await self.supervisor.wait_settled(session, seconds)

    async def delete(
        self, session_id: str, reason: str = ev.SESSION_DELETED, owner: str | None = None
    ) -> None:
        """End a session: its process, files, deployments and records go; ``reason`` is
        the last event (``session.deleted`` or ``session.expired``)."""
        session = self.registry.get(session_id, owner)
        bind_session(session.id)
        await self.supervisor.release(session)
        await self.deployments.forget(session_id)
        await self.store.removed(session_id, session.owner, reason)
        self.registry.remember_end(session_id, session.owner, reason)
        self.events.publish(session_id, reason, {"sessionId": session_id})
        await self.events.end(session_id)
        log.info("session %s ended (%s)", session_id, reason)

    def deployment_url(self, session_id: str) -> str | None:
        return self.deployments.latest_url(session_id)

    def facts(self, session: PreviewSession) -> SessionFacts:
        """What is told of ``session`` (the API's view and the Redis record are made of
        this and more): the one place a session becomes its told shape."""
        return SessionFacts(
            id=session.id,
            status=session.status,
            error=session.error,
            framework=session.layout.framework,
            frameworkVersion=session.layout.framework_version,
            viteRoot=session.layout.vite_root,
            projectType=session.project_type,
            files=len(session.vfs.files),
            deployments=[deployment_facts(d) for d in self.deployments.deployments(session.id)],
            deploymentUrl=self.deployment_url(session.id),
            fallback=session.fallback,
            warnings=list(session.warnings),
        )

    def status_counts(self) -> dict[str, int]:
        """Sessions by status on this node, and the warm pool's slots (``warm``)."""
        counts = self.registry.status_counts()
        counts["warm"] = len(self.pool.slots)
        return dict(counts)

    # -- this process's lifetime -------------------------------------------------------------

    async def start(self) -> None:
        """Remove what an earlier process left, then fill the warm pool (in the background)."""
        await self.supervisor.reap_leftovers()
        self.pool.start()

    async def cull(self, now: float | None = None, *, expire: bool = True) -> list[str]:
        """The periodic cull: hibernate sessions idle for ``hibernate_after_seconds`` and
        (``expire``) end those idle longer than their TTL. A failure for one session is
        logged and never stops the sweep. Returns the expired ids."""
        now = time.time() if now is None else now
        expired = []
        for session in self.registry:
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
                        await self.supervisor.hibernate(session, "idle", session.last_activity)
                except SessionNotFound:
                    pass
                except Exception:
                    log.exception("cull: could not hibernate or expire session %s", session.id)
        return expired

    async def suspend_all(self) -> None:
        """Let go of every session, keeping what the next process on this node restores
        them from (distributed mode): the records in the store, and the sandboxes that can
        outlive this process (containers, re-adopted) with their workspaces."""
        await self.pool.aclose()
        for session in self.registry:
            try:
                await self.supervisor.release(session, suspend=True)
            except Exception:
                log.exception("could not let go of session %s", session.id)
        await self.backend.aclose()

    async def shutdown(self) -> None:
        """End every session (deleted), the deployments and the sandboxes."""
        await self.pool.aclose()
        for session_id in self.registry.ids():
            try:
                await self.delete(session_id)
            except Exception:
                log.exception("could not clean up session %s", session_id)
        await self.deployments.aclose()
        await self.backend.aclose()
        await self.events.flush()

    # -- what the chat app sees --------------------------------------------------------------

    def _on_session(self, session: PreviewSession, kind: str, data: dict[str, Any]) -> None:
        """A session logged a line: published while it installs, kept by the store. (Its
        status changes are the lifecycle's: previews/lifecycle.py.)"""
        if session.status is SessionStatus.INSTALLING:
            self.events.publish(session.id, ev.INSTALL_PROGRESS, {"line": data["line"]})
        self.store.logged(session, data["line"])

    def _on_deploy_event(self, session_id: str, kind: str, data: dict[str, Any]) -> None:
        """A deployment moved on: publish it, log it, keep the store current."""
        self.events.publish(session_id, kind, data)
        session = self.registry.find(session_id)
        if session is None:
            return
        if kind == ev.DEPLOY_SUCCEEDED:
            session.log(f"deployment {data['deploymentId']} succeeded: {data.get('url') or ''}")
        elif kind == ev.DEPLOY_FAILED:
            session.log(f"deployment {data['deploymentId']} failed: {data.get('error')}")
        if kind != ev.DEPLOY_PROGRESS:
            self.store.saved(session)


def with_package_json(
    files: Mapping[str, bytes], package_json: dict[str, Any] | None
) -> Mapping[str, bytes]:
    """The request's ``packageJson`` becomes the package.json next to the app's index.html."""
    if package_json is None:
        return files
    vite_root = find_vite_root(files)
    name = f"{vite_root}/package.json" if vite_root else "package.json"
    return {**files, name: json.dumps(package_json, indent=2).encode()}
