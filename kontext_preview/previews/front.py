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
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kontext_preview.config import Settings
from kontext_preview.deploy.base import Deployment
from kontext_preview.events import EventLog
from kontext_preview.previews.service import PreviewService
from kontext_preview.previews.session import PreviewSession, SessionStatus
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

    @property
    def settled(self) -> bool:
        return self.status in (SessionStatus.ACTIVE.value, SessionStatus.FAILED.value)


@dataclass(frozen=True)
class Route:
    """Where the proxy sends a preview's traffic (``endpoint`` only while active)."""

    status: str
    error: str | None
    endpoint: Endpoint | None


class Previews(ABC):
    settings: Settings
    events: EventLog

    @abstractmethod
    async def create(
        self,
        files: Mapping[str, bytes],
        package_json: dict[str, Any] | None,
        project_type: str | None,
        session_id: str | None,
    ) -> SessionView: ...

    @abstractmethod
    async def update(
        self, session_id: str, files: Mapping[str, bytes], deleted: Iterable[str]
    ) -> dict[str, Any]:
        """Apply an update; answer the update response's fields."""

    @abstractmethod
    async def view(self, session_id: str, *, detail: bool = False) -> SessionView: ...

    @abstractmethod
    async def wait_settled(self, session_id: str, seconds: float) -> SessionView: ...

    @abstractmethod
    async def delete(self, session_id: str) -> None: ...

    @abstractmethod
    async def route(self, session_id: str) -> Route | None:
        """Where to send a preview request (and note it as activity); None if unknown."""

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
            [deployment_dict(d) for d in service.deployer.deployments(session.id)] if detail else []
        ),
    )


def update_response(result: UpdateResult, status: str) -> dict[str, Any]:
    """The fields of UpdatePreviewResponse (JSON-able: workers send them as replies)."""
    from kontext_preview.changes.schemas import file_changes

    return {
        "updateId": result.update_id,
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
        files: Mapping[str, bytes],
        package_json: dict[str, Any] | None,
        project_type: str | None,
        session_id: str | None,
    ) -> SessionView:
        session = await self.service.create(files, package_json, project_type, session_id)
        return session_view(self.service, session)

    async def update(
        self, session_id: str, files: Mapping[str, bytes], deleted: Iterable[str]
    ) -> dict[str, Any]:
        result = await self.service.update(session_id, files, deleted)
        return update_response(result, self.service.get(session_id).status.value)

    async def view(self, session_id: str, *, detail: bool = False) -> SessionView:
        session = self.service.get(session_id)
        session.touch()
        return session_view(self.service, session, detail=detail)

    async def wait_settled(self, session_id: str, seconds: float) -> SessionView:
        session = self.service.get(session_id)
        await self.service.wait_settled(session, seconds)
        return session_view(self.service, session)

    async def delete(self, session_id: str) -> None:
        await self.service.delete(session_id)

    async def route(self, session_id: str) -> Route | None:
        session = self.service.sessions.get(session_id)
        if session is None:
            return None
        session.touch()
        sandbox = session.sandbox
        active = session.status is SessionStatus.ACTIVE and sandbox is not None
        return Route(
            session.status.value, session.error, sandbox.endpoint if sandbox and active else None
        )

    async def start(self) -> None:
        self._reaper = asyncio.create_task(self._reap_forever())

    async def shutdown(self) -> None:
        if self._reaper:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        await self.service.shutdown()

    async def _reap_forever(self) -> None:
        """The embedded cull: expire idle sessions; a failing sweep is logged, never fatal."""
        while True:
            await asyncio.sleep(self.settings.reap_interval_seconds)
            try:
                await self.service.reap_expired()
            except Exception:
                log.exception("expiring idle sessions failed")
