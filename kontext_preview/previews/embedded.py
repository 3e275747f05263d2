"""The embedded default: every session runs in this process, in a :class:`SessionEngine`."""

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Iterable, Mapping
from typing import Any

from kontext_preview.contract import (
    EXPIRED_ROUTE,
    Route,
    SessionManager,
    SessionView,
    UpdateOutcome,
    expired_view,
    route_of,
)
from kontext_preview.errors import SessionNotFound
from kontext_preview.previews.engine import SessionEngine
from kontext_preview.previews.session import PreviewSession
from kontext_preview.previews.updates import deployment_facts, update_outcome

log = logging.getLogger(__name__)


class EmbeddedSessionManager(SessionManager):
    """Sessions in this process; a background task culls idle ones. Its store is memory:
    there is no store failure to translate."""

    def __init__(self, engine: SessionEngine):
        self.engine = engine
        self.settings = engine.settings
        self.events = engine.events
        self._reaper: asyncio.Task[None] | None = None

    async def create(
        self,
        owner: str,
        files: Mapping[str, bytes],
        package_json: dict[str, Any] | None,
        project_type: str | None,
        session_id: str | None,
    ) -> SessionView:
        session = await self.engine.create(
            files, package_json, project_type, session_id, owner=owner
        )
        return self._view(session)

    async def update(
        self, session_id: str, owner: str, files: Mapping[str, bytes], deleted: Iterable[str]
    ) -> UpdateOutcome:
        result = await self.engine.update(session_id, files, deleted, owner=owner)
        return update_outcome(result, self.engine.get(session_id).status.value)

    async def view(self, session_id: str, owner: str, *, detail: bool = False) -> SessionView:
        try:
            session = self.engine.get(session_id, owner)
        except SessionNotFound:
            if self.engine.registry.restorable(session_id, owner):
                return expired_view(session_id)
            raise
        session.touch()
        return self._view(session, detail=detail)

    async def wait_settled(self, session_id: str, owner: str, seconds: float) -> SessionView:
        session = self.engine.get(session_id, owner)
        await self.engine.wait_settled(session, seconds)
        return self._view(session)

    async def delete(self, session_id: str, owner: str) -> None:
        await self.engine.delete(session_id, owner=owner)

    async def owns(self, session_id: str, owner: str) -> bool:
        return self.engine.registry.owns(session_id, owner)

    async def route(self, session_id: str, *, resume: bool = True) -> Route | None:
        engine = self.engine
        session = engine.find(session_id)
        if session is None:
            ended = engine.registry.ended(session_id)
            return EXPIRED_ROUTE if ended and ended.expired else None
        session.touch()
        status = session.status.value  # as it was: the browser is told it is waking up
        if resume:
            engine.resume(session)
        endpoint = session.sandbox.endpoint if session.sandbox else None
        return route_of(
            status,
            session.error,
            (endpoint.host, endpoint.port) if endpoint else None,
            session.fallback,
            [deployment_facts(d) for d in engine.deployments.deployments(session_id)],
            engine.deployment_url(session_id),
        )

    async def status_counts(self) -> dict[str, dict[str, int]]:
        return {self.settings.node_name: self.engine.status_counts()}

    async def readiness(self) -> list[str]:
        return [] if self._reaper is not None else ["starting"]

    async def start(self) -> None:
        self._remove_leftovers()
        await self.engine.start()
        self._reaper = asyncio.create_task(self._reap_forever())

    def _remove_leftovers(self) -> None:
        """Embedded sessions live in this process: published sites found at start belong
        to a run that was killed, and nothing can reach them (the engine removes the
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
        await self.engine.shutdown()

    async def _reap_forever(self) -> None:
        """The embedded cull: hibernate and expire idle sessions; a failing sweep is
        logged, never fatal."""
        while True:
            await asyncio.sleep(self.settings.reap_interval_seconds)
            try:
                await self.engine.cull()
            except Exception:
                log.exception("the cull of idle sessions failed")

    def _view(self, session: PreviewSession, *, detail: bool = False) -> SessionView:
        return session_view(self.engine, session, detail=detail)


def session_view(
    engine: SessionEngine, session: PreviewSession, *, detail: bool = False
) -> SessionView:
    """A session of this process as the API shows it (``detail``: logs and deployments)."""
    facts = engine.facts(session)
    if not detail:
        facts = facts.model_copy(update={"deployments": []})
    return SessionView(
        **dict(facts),
        expiresAt=session.expires_at,
        logs=list(session.logs) if detail else [],
    )
