"""Every event of a session's stream as a pydantic model: what the chat app follows on
``GET /kontext/preview/{id}/events`` (README, "Events (SSE)").

Each model is the event's JSON data, whose ``type`` (the SSE event name) tells which one
it is: :data:`SessionEvent` is their discriminated union, in the OpenAPI schema
(``components.schemas.SessionEvent``) for clients to generate types from. Every event is
validated here on its way into the log (:func:`validated`): a publisher that sends a
field its model does not declare, or a value of another type, fails at once.
"""

# ruff: noqa: N815  (the fields are the events' JSON names, camelCase as the API's)
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

Ms = Annotated[float, Field(description="milliseconds")]


class Diagnostic(BaseModel):
    """A compiler's or bundler's finding, at a place of a project file."""

    file: str
    line: int
    column: int
    endLine: int | None = None
    endColumn: int | None = None
    severity: str = Field(description="error | warning")
    code: str | None = None
    message: str


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: float = Field(description="when it was published, unix seconds")


class SessionStarting(_Event):
    type: Literal["session.starting"]
    phase: Literal["installing", "starting"]
    reason: str | None = Field(
        default=None, description="why it starts again (distributed mode: its node died)"
    )


class InstallProgress(_Event):
    type: Literal["install.progress"]
    line: str = Field(description="one line of dependency or dev-server output")


class SessionReady(_Event):
    type: Literal["session.ready"]
    previewUrl: str
    start: str | None = Field(
        default=None, description="how it started: create, restart, wake, adopt…"
    )
    startMs: Ms | None = Field(default=None, description="from starting to ready")


class SessionFailed(_Event):
    type: Literal["session.failed"]
    error: str | None = Field(description="why; the next update restarts the session")


class UpdateReceived(_Event):
    type: Literal["update.received"]
    updateId: str
    seq: int = Field(description="the session's update number: 1, 2, 3… as received")
    files: int = Field(description="how many files it sent")


class UpdateTimings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    analyzeMs: Ms | None = None
    writeMs: Ms | None = None
    notifyMs: Ms | None = None
    serverMs: Ms | None = Field(default=None, description="from the API's receipt to applied")


BrowserAck = Literal[
    "update",
    "css",
    "reload",
    "error",
    "unaffected",
    "none",
    "timeout",
    "hibernated",
    "restarted",
]


class UpdateApplied(_Event):
    type: Literal["update.applied"]
    updateId: str
    seq: int
    updated: list[str]
    deleted: list[str]
    strategy: str = Field(description="css-injection | preview-update | full-deploy")
    batchSize: int
    hmrTriggered: bool
    restarted: bool
    timings: UpdateTimings
    browserAppliedMs: Ms | None = Field(
        description="from the API's receipt to the first page's acknowledgement"
    )
    browserAck: BrowserAck = Field(description="what the open pages did (README)")
    pages: int | None = Field(default=None, description="how many pages answered")
    error: str | None = Field(default=None, description="why it could not show (a failed start)")


class ErrorPlace(BaseModel):
    """Where in the project an error of a preview is, and what its tools said of it (the
    agent's ``preview-error`` and the ``preview.error`` event share these)."""

    file: str | None = Field(default=None, description="project path")
    line: int | None = Field(default=None, description="1-based")
    column: int | None = Field(default=None, description="1-based")
    frame: str | None = Field(default=None, description="the code around it, as the tool shows it")
    stack: str | None = None
    plugin: str | None = Field(default=None, description="the Vite plugin that raised it")


class PreviewError(_Event, ErrorPlace):
    type: Literal["preview.error"]
    kind: str | None = Field(default=None, description="compile | runtime | update")
    message: str | None = None
    seq: int | None = Field(default=None, description="update: the failed updates' last seq")
    updateIds: list[str] | None = None


class PreviewConsole(_Event):
    type: Literal["preview.console"]
    level: str | None = Field(default=None, description="warn | error")
    message: str | None = None
    file: str | None = None
    line: int | None = None
    column: int | None = None
    count: int | None = Field(default=None, description="the same message repeated in a row")
    dropped: int | None = Field(default=None, description="messages left out before this one")


class DeployQueued(_Event):
    type: Literal["deploy.queued"]
    deploymentId: str
    reasons: list[str]
    fallback: bool


class DeploySuperseded(_Event):
    type: Literal["deploy.superseded"]
    deploymentId: str
    by: str = Field(description="the newer deployment")


class DeployStarted(_Event):
    type: Literal["deploy.started"]
    deploymentId: str
    deployer: str


class DeployProgress(_Event):
    type: Literal["deploy.progress"]
    deploymentId: str
    line: str = Field(description="compiler, build or command output (lines joined)")
    lines: int | None = None


class DeploySucceeded(_Event):
    type: Literal["deploy.succeeded"]
    deploymentId: str
    url: str | None
    durationMs: Ms
    diagnostics: list[Diagnostic]


class DeployFailed(_Event):
    type: Literal["deploy.failed"]
    deploymentId: str
    error: str | None
    durationMs: Ms
    diagnostics: list[Diagnostic]


class SessionHibernated(_Event):
    type: Literal["session.hibernated"]
    reason: str = Field(description="idle | node full")


class SessionExpired(_Event):
    type: Literal["session.expired"]
    sessionId: str


class SessionDeleted(_Event):
    type: Literal["session.deleted"]
    sessionId: str


SessionEvent = Annotated[
    SessionStarting
    | InstallProgress
    | SessionReady
    | SessionFailed
    | UpdateReceived
    | UpdateApplied
    | PreviewError
    | PreviewConsole
    | DeployQueued
    | DeploySuperseded
    | DeployStarted
    | DeployProgress
    | DeploySucceeded
    | DeployFailed
    | SessionHibernated
    | SessionExpired
    | SessionDeleted,
    Field(discriminator="type"),
]
EVENTS: TypeAdapter[SessionEvent] = TypeAdapter(SessionEvent)


def salvaged(type_: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` from an untrusted source (a preview's page, through its agent) without the
    fields its event's model refuses: what is left validates (``type``'s required fields
    are the caller's)."""
    try:
        EVENTS.validate_python({**data, "type": type_, "at": 0.0})
        return data
    except ValidationError as exc:
        bad = {error["loc"][1] for error in exc.errors() if len(error["loc"]) > 1}
        return {key: value for key, value in data.items() if key not in bad}


def validated(type_: str, at: float, data: dict[str, Any]) -> dict[str, Any]:
    """An event's data checked against its model; as given (fields left out stay out),
    with ``type`` and ``at`` first. Raises pydantic's ValidationError."""
    model = EVENTS.validate_python({**data, "type": type_, "at": at})
    dumped: dict[str, Any] = model.model_dump(mode="json", exclude_unset=True)
    return {"type": type_, "at": at, **{k: v for k, v in dumped.items() if k not in ("type", "at")}}
