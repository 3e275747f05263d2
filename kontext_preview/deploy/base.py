"""Deployer: where a change that needs a full deployment is sent.

The update path calls :meth:`Deployer.queue` when an update's strategy is
``full-deploy`` (backend, dependency or structural changes); the preview still
shows what it can in the meantime. One queued deployment per session absorbs
later requests until it starts, so a burst of AI edits queues one deployment.

:class:`QueuedDeployments`, the embedded default, only records what was queued:
the deployment pipeline (build, Motoko compile, upload) implements the
interface in its own issue.
"""

import secrets
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field


@dataclass
class Deployment:
    id: str
    session_id: str
    status: str  # queued | running | succeeded | failed
    queued_at: float
    reasons: list[str] = field(default_factory=list)


class Deployer(ABC):
    @abstractmethod
    async def queue(self, session_id: str, reasons: list[str]) -> Deployment:
        """Queue a deployment of the session's current files (or join the one queued)."""

    @abstractmethod
    def deployments(self, session_id: str) -> list[Deployment]:
        """The session's deployments, oldest first."""

    async def forget(self, session_id: str) -> None:
        """Drop what is kept about a deleted session."""
        return None


class QueuedDeployments(Deployer):
    def __init__(self) -> None:
        self._by_session: dict[str, list[Deployment]] = {}

    async def queue(self, session_id: str, reasons: list[str]) -> Deployment:
        history = self._by_session.setdefault(session_id, [])
        if history and history[-1].status == "queued":
            pending = history[-1]
            pending.reasons += [r for r in reasons if r not in pending.reasons]
            return pending
        deployment = Deployment(
            secrets.token_hex(8), session_id, "queued", time.time(), list(reasons)
        )
        history.append(deployment)
        return deployment

    def deployments(self, session_id: str) -> list[Deployment]:
        return list(self._by_session.get(session_id, []))

    async def forget(self, session_id: str) -> None:
        self._by_session.pop(session_id, None)
