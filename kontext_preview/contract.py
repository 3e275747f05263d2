"""The contract between the HTTP layer and whatever runs the sessions.

:class:`SessionManager` is the one interface the API's routes, the preview proxy and
the health endpoints call. Two implementations keep it:

* ``kontext_preview.previews.embedded.EmbeddedSessionManager``: every session runs in
  this process (the default);
* ``kontext_preview.distributed.manager.DistributedSessionManager``: the API sends each
  verb to the Celery worker node that hosts the session and reads the registry in Redis.

Both answer with the models below, so the API behaves the same in both, and both turn
their own store's failures into :class:`~kontext_preview.errors.StoreUnavailable`
(HTTP 503): nothing above this contract knows which store there is.

This module also holds the rules both sides share, written once: what a session id
looks like, the statuses, how long an ended session is remembered and the per-user
limit. It imports no implementation (``make test`` checks that with import-linter).
"""

# ruff: noqa: N815  (the models below: the API's camelCase names)
import re
import secrets
import zlib
from abc import ABC, abstractmethod
from base64 import b32encode
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from kontext_preview import events as ev
from kontext_preview.changes.schemas import FileChangeOut
from kontext_preview.config import Settings
from kontext_preview.errors import TooManySessions
from kontext_preview.event_models import Diagnostic
from kontext_preview.events import EventLog

# -- session ids ---------------------------------------------------------------------------

SESSION_ID_BYTES = 20  # 160 bits from `secrets`; 32 DNS-safe characters (base32, lower case)
# What a session id may be: a DNS label of lower-case letters and digits (the preview's
# host name starts with it). New ids are 32 characters; a caller may choose its own.
SESSION_ID = re.compile(r"^[a-z0-9]{1,63}$")


def new_session_id() -> str:
    return b32encode(secrets.token_bytes(SESSION_ID_BYTES)).decode().lower()


def is_session_id(value: str) -> bool:
    return SESSION_ID.match(value) is not None


# -- statuses --------------------------------------------------------------------------------


class SessionStatus(StrEnum):
    INSTALLING = "installing"  # dependencies being prepared
    STARTING = "starting"  # dev server starting
    ACTIVE = "active"  # serving
    FAILED = "failed"  # could not start or stopped unexpectedly; `error` says why
    HIBERNATED = "hibernated"  # idle: dev server stopped, files kept; traffic resumes it


# The status an ended session is shown with (for `session_expired_retention_seconds`).
EXPIRED = "expired"
SETTLED = frozenset({SessionStatus.ACTIVE, SessionStatus.FAILED, SessionStatus.HIBERNATED})
SETTLED_VALUES = frozenset({*(s.value for s in SETTLED), EXPIRED})


# -- rules both implementations apply ------------------------------------------------------


def ended_retention_seconds(settings: Settings, reason: str) -> int:
    """How long an ended session is remembered (for its owner: the expired page, a restore,
    a late SSE reader), by how it ended (``session.expired`` or ``session.deleted``)."""
    if reason == ev.SESSION_EXPIRED:
        return int(settings.expired_retention_seconds)
    return int(settings.events_retention_seconds)


def check_user_room(live: int, settings: Settings) -> None:
    """The per-user limit (``KONTEXT_MAX_SESSIONS_PER_USER``), given the user's ``live``
    sessions. Raises TooManySessions (429)."""
    limit = settings.max_sessions_per_user
    if live >= limit:
        raise TooManySessions(
            f"you have {live} live preview sessions, the limit per user "
            f"(KONTEXT_MAX_SESSIONS_PER_USER) is {limit}: delete one with "
            "DELETE /kontext/preview/{id}, or let idle ones expire"
        )


# -- what the verbs answer -------------------------------------------------------------------


class DeploymentFacts(BaseModel):
    """A full deployment, as a session's facts and an update's outcome tell it (the API
    answers it as ``schemas.DeploymentOut``)."""

    id: str
    status: str = Field(description="queued | running | succeeded | failed | superseded")
    queuedAt: float
    reasons: list[str]
    fallback: bool = Field(default=False, description="Queued because the preview failed.")
    startedAt: float | None = None
    finishedAt: float | None = None
    url: str | None = None
    error: str | None = None
    diagnostics: list[Diagnostic] = Field(
        default_factory=list, description="Compiler diagnostics (Motoko), 1-based lines."
    )


class UpdateOutcome(BaseModel):
    """What an update did, as both modes answer it: made in one place
    (``previews.updates.update_outcome``), sent by a worker to the API in its ``Reply``,
    answered by the API as ``schemas.UpdatePreviewResponse``. Names are the API's."""

    updateId: str = Field(
        description="This update's id; its update.applied event on the SSE stream carries it."
    )
    seq: int = Field(
        default=0,
        description="The session's update number, 1, 2, 3… in the order received (also on "
        "its update.received and update.applied events): a gap or a step back means loss "
        "or reordering.",
    )
    updated: list[str] = Field(description="Files whose content changed.")
    deleted: list[str]
    unchanged: list[str] = Field(description="Files sent with the content they already had.")
    hmrTriggered: bool = Field(
        description="True if the dev server had loaded a changed file (or it is an HTML page), "
        "so connected previews were sent an update or a reload."
    )
    restarted: bool = Field(
        description="True if the change (layout, dependencies) restarts the dev server."
    )
    status: str
    strategy: str = Field(
        description="none | css-injection | preview-update | full-deploy: how this change is shown"
    )
    changes: list[FileChangeOut] = Field(description="Per file: class, strategy and reasons.")
    batchSize: int = Field(
        description="How many updates were applied together with this one (1: on its own)."
    )
    deploy: DeploymentFacts | None = Field(
        default=None, description="The deployment queued for a full-deploy change."
    )
    timings: dict[str, float] = Field(
        default_factory=dict,
        description="Milliseconds spent: analyzeMs, writeMs, notifyMs (browser time: SSE).",
    )


class SessionFacts(BaseModel):
    """What is told of a session wherever it is told: the API's view (:class:`SessionView`)
    and the distributed registry's record (``distributed.protocol.SessionRecord``) are this
    and more, made from a session in one place (``previews.engine.SessionEngine.facts``).
    Names are the API's (camelCase)."""

    id: str
    status: SessionStatus | Literal["expired"]  # EXPIRED: ended, still remembered
    error: str | None = None
    framework: str = ""
    frameworkVersion: str | None = None
    viteRoot: str = ""
    projectType: str | None = None
    files: int = 0
    deployments: list[DeploymentFacts] = Field(default_factory=list)
    deploymentUrl: str | None = None
    fallback: str | None = None  # why the deployment serves instead of the live preview
    warnings: list[str] = Field(default_factory=list)  # what was worked around to run it


FACTS = set(SessionFacts.model_fields)  # its field names (model_dump's `include`)


class SessionView(SessionFacts):
    """A session as the API shows it (an ended one, while remembered: status ``expired``);
    ``logs`` and ``deployments`` with ``detail`` only."""

    expiresAt: int = 0  # unix s
    logs: list[str] = Field(default_factory=list)

    @property
    def settled(self) -> bool:
        return self.status in SETTLED_VALUES


def expired_view(session_id: str) -> SessionView:
    return SessionView(
        id=session_id,
        status=EXPIRED,
        error="the session was idle longer than its time to live and was cleaned up; "
        "create it again with this sessionId and the project's files to restore it",
    )


class Route(BaseModel):
    """Where the proxy sends a preview's traffic: the dev server (``host``/``port``, only
    while active), or the deployment that stands in for it."""

    status: SessionStatus | Literal["expired"]
    error: str | None = None
    host: str | None = None
    port: int | None = None
    fallback: str | None = None
    deployment_url: str | None = None
    deployment: str | None = None  # the id of the deployment published there
    deploy_error: str | None = None  # the fallback deployment failed too

    @property
    def upstream(self) -> str | None:
        """``host:port`` of the dev server, None unless it serves."""
        if self.status != SessionStatus.ACTIVE or not self.host or not self.port:
            return None
        return f"{self.host}:{self.port}"

    @property
    def view(self) -> str:
        """What a visitor of the preview is shown now, as the proxy decides it:
        ``app`` (the dev server), ``starting``, ``waking`` (hibernated), ``failed:<crc>``,
        ``deploying:<crc>`` (a fallback deployment on its way), ``deploy-failed:<crc>``
        (the reasons' CRC-32: other reasons are another view), ``deployment:<id>`` (the
        fallback build published) or ``expired``. A page that stands in for the app follows
        it and loads again when it changes, so an open page shows what a fresh load shows
        (issue 29)."""
        if self.status == EXPIRED:
            return "expired"
        if self.status == SessionStatus.FAILED:
            if self.fallback is not None and self.deployment_url:
                return f"deployment:{self.deployment}"
            kind = "failed" if self.fallback is None else "deploying"
            if self.fallback is not None and self.deploy_error:
                kind = "deploy-failed"
            said = f"{self.error}\0{self.deploy_error}" if kind == "deploy-failed" else self.error
            return f"{kind}:{zlib.crc32((said or '').encode()):08x}"
        if self.upstream is None:
            return "waking" if self.status == SessionStatus.HIBERNATED else "starting"
        return "app"


def route_of(
    status: str,
    error: str | None,
    upstream: tuple[str, int] | None,
    fallback: str | None,
    deployments: list[DeploymentFacts],
    deployment_url: str | None,
) -> Route:
    """A live session's route (both implementations build it here): the dev server while
    active, and the last deployment's error when a failed one stands in for it."""
    last = deployments[-1] if deployments else None
    published = next((d.id for d in reversed(deployments) if d.status == "succeeded"), None)
    host, port = upstream if upstream and status == SessionStatus.ACTIVE else (None, None)
    return Route(
        status=status,
        error=error,
        host=host,
        port=port,
        fallback=fallback,
        deployment_url=deployment_url,
        deployment=published if deployment_url else None,
        deploy_error=last.error if last and last.status == "failed" else None,
    )


EXPIRED_ROUTE = Route(status=EXPIRED)


# -- the contract ------------------------------------------------------------------------------


class SessionManager(ABC):
    """The verbs of /kontext/preview. Every verb takes the calling user (``owner``):
    another user's session is answered exactly like an unknown one (SessionNotFound, 404).
    Errors are KontextErrors; a store that does not answer is StoreUnavailable."""

    settings: Settings
    events: EventLog

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
    ) -> UpdateOutcome:
        """Apply an update; answers once the files are written and the dev server told
        (the browser's acknowledgement follows as ``update.applied``)."""

    @abstractmethod
    async def view(self, session_id: str, owner: str, *, detail: bool = False) -> SessionView:
        """The session (``detail``: with its log lines and deployments), noted as activity."""

    @abstractmethod
    async def wait_settled(self, session_id: str, owner: str, seconds: float) -> SessionView:
        """The session once active, failed or hibernated, or as it is after ``seconds``."""

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
    async def status_counts(self) -> dict[str, dict[str, int]]:
        """Sessions by node and status (``warm``: warm pool slots), for the metrics."""

    async def readiness(self) -> list[str]:
        """What keeps this API from serving (nothing: ready)."""
        return []

    async def start(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None
