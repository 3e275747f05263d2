"""What the API and the preview proxy need from "the previews", whichever mode runs them.

:class:`Previews` is the one interface the HTTP layer calls. The embedded
default (:class:`EmbeddedPreviews`) runs sessions in this process through a
:class:`PreviewService`; distributed mode (``kontext_preview.distributed.front``)
sends the same verbs to Celery workers and reads the registry in Redis. Both
answer with plain views (:class:`SessionView`, :class:`Route`, the update
response's fields), so the API behaves the same in both.
"""

import asyncio
import contextlib
import logging
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kontext_preview.config import Settings
from kontext_preview.deploy.base import Deployment
from kontext_preview.errors import SessionNotFound
from kontext_preview.events import EventLog
from kontext_preview.previews.service import PreviewService
from kontext_preview.previews.session import EXPIRED, SETTLED, PreviewSession, SessionStatus
from kontext_preview.previews.updates import UpdateResult
from kontext_preview.sandbox.base import Endpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionView:
    id: str
    status: str
    error: str | None
    framework: str
    vite_root: str
    project_type: str | None
    expires_at: int
    files: int = 0
    logs: list[str] = field(default_factory=list)
    deployments: list[dict[str, Any]] = field(default_factory=list)
    deployment_url: str | None = None
    fallback: str | None = None  # why the deployment serves instead of the live preview

    @property
    def settled(self) -> bool:
        return self.status in SETTLED_VALUES


SETTLED_VALUES = frozenset({*(s.value for s in SETTLED), EXPIRED})


@dataclass(frozen=True)
class Route:
    """Where the proxy sends a preview's traffic (``endpoint`` only while active)."""

    status: str
    error: str | None
    endpoint: Endpoint | None
    fallback: str | None = None
    deployment_url: str | None = None
    deploy_error: str | None = None  # the fallback deployment failed too


def expired_view(session_id: str) -> SessionView:
    return SessionView(
        id=session_id,
        status=EXPIRED,
        error="the session was idle longer than its time to live and was cleaned up; "
        "create it again with this sessionId and the project's files to restore it",
        framework="",
        vite_root="",
        project_type=None,
        expires_at=0,
    )


class Previews(ABC):
    settings: Settings
    events: EventLog

    # Every verb takes the calling user (``owner``): another user's session is answered
    # exactly like an unknown one (SessionNotFound).

    @abstractmethod
    async def create(
        self,
        owner: str,
        files: Mapping[str, bytes],
        package_json: dict[str, Any] | None,
        project_type: str | None,
        session_id: str | None,
    ) -> SessionView:
        """Create a session; with ``session_id``, replace its files (or restore it if it
        expired)."""

    @abstractmethod
    async def update(
        self, session_id: str, owner: str, files: Mapping[str, bytes], deleted: Iterable[str]
    ) -> dict[str, Any]:
        """Apply an update; answer the update response's fields."""

    @abstractmethod
    async def view(self, session_id: str, owner: str, *, detail: bool = False) -> SessionView:
        """The session (an expired one, while remembered, with status ``expired``)."""

    @abstractmethod
    async def wait_settled(self, session_id: str, owner: str, seconds: float) -> SessionView: ...

    @abstractmethod
    async def delete(self, session_id: str, owner: str) -> None: ...

    @abstractmethod
    async def owns(self, session_id: str, owner: str) -> bool:
        """Whether the session (live, or ended and still remembered) is the owner's."""

    @abstractmethod
    async def route(self, session_id: str, *, resume: bool = True) -> Route | None:
        """Where to send a preview request, noted as activity; a hibernated session is
        woken (``resume``). None if unknown."""

    @abstractmethod
    async def census(self) -> dict[str, dict[str, int]]:
        """Sessions by node and status (``warm``: warm pool slots), for the metrics."""

    async def readiness(self) -> list[str]:
        """What keeps this API from serving (nothing: ready)."""
        return []

    async def start(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


def deployment_dict(deployment: Deployment) -> dict[str, Any]:
    return {
        "id": deployment.id,
        "status": deployment.status,
        "queuedAt": deployment.queued_at,
        "reasons": list(deployment.reasons),
        "fallback": deployment.fallback,
        "startedAt": deployment.started_at,
        "finishedAt": deployment.finished_at,
        "url": deployment.url,
        "error": deployment.error,
        "diagnostics": list(deployment.diagnostics),
    }


def session_view(
    service: PreviewService, session: PreviewSession, *, detail: bool = False
) -> SessionView:
    return SessionView(
        id=session.id,
        status=session.status.value,
        error=session.error,
        framework=session.layout.framework,
        vite_root=session.layout.vite_root,
        project_type=session.project_type,
        expires_at=session.expires_at,
        files=len(session.vfs.files),
        logs=list(session.logs) if detail else [],
        deployments=(
            [deployment_dict(d) for d in service.deployments.deployments(session.id)]
            if detail
            else []
        ),
        deployment_url=service.deployment_url(session.id),
        fallback=session.fallback,
    )


def update_response(result: UpdateResult, status: str) -> dict[str, Any]:
    """The fields of UpdatePreviewResponse (JSON-able: workers send them as replies)."""
    from kontext_preview.changes.schemas import file_changes

    return {
        "updateId": result.update_id,
        "seq": result.seq,
        "updated": result.updated,
        "deleted": result.deleted,
        "unchanged": result.unchanged,
        "hmrTriggered": result.hmr_triggered,
        "restarted": result.restarted,
        "status": status,
        "strategy": result.analysis.strategy.value,
        "changes": [c.model_dump() for c in file_changes(result.analysis)],
        "batchSize": result.batch_size,
        "timings": result.timings,
        "deploy": deployment_dict(result.deployment) if result.deployment else None,
    }


class EmbeddedPreviews(Previews):
    """The embedded default: every session runs in this process."""

    def __init__(self, service: PreviewService):
        self.service = service
        self.settings = service.settings
        self.events = service.events
        self._reaper: asyncio.Task[None] | None = None

    async def create(
        self,
        owner: str,
        files: Mapping[str, bytes],
        package_json: dict[str, Any] | None,
        project_type: str | None,
        session_id: str | None,
    ) -> SessionView:
        session = await self.service.create(
            files, package_json, project_type, session_id, owner=owner
        )
        return session_view(self.service, session)

    async def update(
        self, session_id: str, owner: str, files: Mapping[str, bytes], deleted: Iterable[str]
    ) -> dict[str, Any]:
        result = await self.service.update(session_id, files, deleted, owner=owner)
        return update_response(result, self.service.get(session_id).status.value)

    async def view(self, session_id: str, owner: str, *, detail: bool = False) -> SessionView:
        try:
            session = self.service.get(session_id, owner)
        except SessionNotFound:
            if self.service.restorable(session_id, owner):
                return expired_view(session_id)
            raise
        session.touch()
        return session_view(self.service, session, detail=detail)

    async def wait_settled(self, session_id: str, owner: str, seconds: float) -> SessionView:
        session = self.service.get(session_id, owner)
        await self.service.wait_settled(session, seconds)
        return session_view(self.service, session)

    async def delete(self, session_id: str, owner: str) -> None:
        await self.service.delete(session_id, owner=owner)

    async def owns(self, session_id: str, owner: str) -> bool:
        return self.service.owns(session_id, owner)

    async def route(self, session_id: str, *, resume: bool = True) -> Route | None:
        service = self.service
        session = service.sessions.get(session_id)
        if session is None:
            ended = service.ended_as(session_id)
            return Route(EXPIRED, None, None) if ended and ended.expired else None
        session.touch()
        status = session.status
        if resume:
            service.resume(session)  # the browser is told it is waking up
        sandbox = session.sandbox
        active = session.status is SessionStatus.ACTIVE and sandbox is not None
        deployments = service.deployments.deployments(session_id)
        last = deployments[-1] if deployments else None
        return Route(
            status.value,
            session.error,
            sandbox.endpoint if sandbox and active else None,
            session.fallback,
            service.deployment_url(session_id),
            last.error if last and last.status == "failed" else None,
        )

    async def census(self) -> dict[str, dict[str, int]]:
        return {self.settings.node_name: self.service.census()}

    async def readiness(self) -> list[str]:
        return [] if self._reaper is not None else ["starting"]

    async def start(self) -> None:
        self._remove_leftovers()
        await self.service.reap_leftovers()
        self.service.pool.start()
        self._reaper = asyncio.create_task(self._reap_forever())

    def _remove_leftovers(self) -> None:
        """Embedded sessions live in this process: published sites found at start belong
        to a run that was killed, and nothing can reach them (the service removes the
        sessions' directories and sandboxes)."""
        root = self.settings.deploy_root
        found = list(root.iterdir()) if root.is_dir() else []
        for entry in found:
            shutil.rmtree(entry, ignore_errors=True)
        if found:
            log.warning("removed %d published sites left by a previous run", len(found))

    async def shutdown(self) -> None:
        if self._reaper:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        await self.service.shutdown()

    async def _reap_forever(self) -> None:
        """The embedded cull: hibernate and expire idle sessions; a failing sweep is
        logged, never fatal."""
        while True:
            await asyncio.sleep(self.settings.reap_interval_seconds)
            try:
                await self.service.cull()
            except Exception:
                log.exception("the cull of idle sessions failed")
