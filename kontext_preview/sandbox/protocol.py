"""The agent protocol: every message between the service and the Node agent, as a model.

Three kinds of message, one source: these models. ``sandbox-images/agent/protocol.schema.json``
is made from them (:func:`json_schema`; ``make agent-schema``, and a test fails while it is
stale), and the agent (``agent/protocol.mjs``) checks against it what it receives, with Ajv:

- :data:`AgentConfig`, the agent's one argument (a JSON file): what to run (``mode``: a dev
  server, a production build, the image's preparation) and where things are;
- :data:`ControlRequest`, one JSON line each on the control socket after the :class:`Hello`
  line, answered by one line each: the request's :data:`ControlReply` or :class:`Refused`;
- :data:`AgentEvent`, what the agent says on its stdout, one JSON object a line, checked
  here as it is read (:func:`agent_event`).

Field names are the JSON names (camelCase, as the agent's JavaScript spells them).
"""

# ruff: noqa: N815  (the fields are the messages' JSON names)
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from kontext_preview.event_models import ErrorPlace
from kontext_preview.workspace.layout import DevServerName

SCHEMA_FILE = "protocol.schema.json"  # in the agent's folder
Ms = Annotated[float, Field(description="milliseconds")]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------- config


class _Config(_Message):
    templateDir: str = Field(description="the prepared Vite template: packages to fall back on")
    cacheDir: str | None = Field(default=None, description="Vite's cacheDir")
    tempDir: str | None = Field(default=None, description="a writable folder (containers)")
    addReactPlugin: bool = Field(
        default=False, description="a React project without a vite.config: add plugin-react"
    )


class DevServerConfig(_Config):
    """Run a dev server for one session until stdin closes (or SIGTERM)."""

    mode: Literal["dev"]
    root: str = Field(description="the folder of the app's index.html (or the framework's root)")
    devServer: DevServerName = Field(
        default="vite", description="the dev-server adapter (agent/adapters/<name>.mjs)"
    )
    sessionId: str
    token: str = Field(description="the control socket's token, asked for in its first line")
    wsToken: str = Field(description="the HMR socket's token (Vite's webSocketToken)")
    workspace: str = Field(description="the project's files (root is inside it)")
    templateDirs: list[str] = Field(default_factory=list, description="other prepared trees")
    controlSocket: str = Field(description="the control socket's path")
    warmUrls: list[str] = Field(default_factory=list, description="modules to transform at start")
    launchSeq: int | None = Field(
        default=None, description="the update that starts this dev server, as pages ack it"
    )
    publicHost: str = Field(description="the host name browsers use")
    wsClientPort: int | None = Field(
        default=None, description="the port browsers reach the HMR socket on"
    )
    wsPath: str
    wsProtocol: Literal["ws", "wss"]
    port: int | None = Field(default=None, description="listen on 127.0.0.1:port (local)")
    bindHost: str | None = Field(default=None, description="the address to listen on (local)")
    socket: str | None = Field(default=None, description="listen on this Unix socket instead")
    prebuiltCacheDir: str | None = Field(
        default=None, description="the image's pre-bundled dependency caches"
    )
    exitOnStdinEnd: bool = Field(default=True, description="exit when stdin closes")


class BuildConfig(_Config):
    """A production build of the project; emits ``built`` and exits."""

    mode: Literal["build"]
    root: str
    outDir: str
    devServer: DevServerName = Field(
        default="vite", description="the adapter whose production build it is"
    )


class ImageConfig(_Config):
    """Run once while the sandbox image is built: install its trees, pre-bundle its caches."""

    mode: Literal["image"]
    stacksDir: str
    deployerDir: str
    sample: str = Field(description="the app pre-bundled for each of roots")
    roots: list[str]
    prebuiltCacheDir: str
    npmCache: str
    removeAfter: list[str]
    publicHost: str
    port: int
    token: str


AgentConfig = Annotated[DevServerConfig | BuildConfig | ImageConfig, Field(discriminator="mode")]


# ---------------------------------------------------------------------------- control


class Hello(_Message):
    """The control socket's first line: the session's token (anything else: closed)."""

    token: str


class FileChanged(_Message):
    path: str = Field(description="project path")
    event: Literal["add", "change", "unlink"]


class _Request(_Message):
    id: int = Field(description="the caller's number, repeated in the answer")


class Notify(_Request):
    """Files changed (already written): replay them as watcher events."""

    action: Literal["notify"]
    changes: list[FileChanged]
    fresh: bool = Field(default=False, description="a whole new project no page has seen")


class Inject(_Request):
    """Stylesheets changed: push them into the pages, the rest as changes."""

    action: Literal["inject"]
    paths: list[str]


class AnnounceRestart(_Request):
    """Change ``seq`` (negative: the service's numbering) comes as a dev-server restart."""

    action: Literal["announce-restart"]
    seq: int


class Health(_Request):
    action: Literal["health"]


class Memory(_Request):
    action: Literal["memory"]


class PageLoad(_Request):
    action: Literal["page-load"]


ControlRequest = Annotated[
    Notify | Inject | AnnounceRestart | Health | Memory | PageLoad, Field(discriminator="action")
]


class _Reply(_Message):
    id: int | None = Field(description="the request's id (null: the request had none)")


class Shown(_Reply):
    """The answer to notify, inject and announce-restart: what the change reached."""

    affected: list[str] = Field(description="changed files the dev server had loaded, or pages")
    injected: list[str] = Field(default_factory=list, description="stylesheets pushed")
    seq: int | None = Field(description="the agent's number for the change; pages ack it")
    clients: int = Field(description="pages connected when it was sent")


class Healthy(_Reply):
    ok: Literal[True]


class MemoryReport(_Reply):
    """Where the dev server's memory goes (bytes; ``threads`` and ``modules`` counts)."""

    rss: int
    heapTotal: int
    heapUsed: int
    external: int
    arrayBuffers: int
    mallocedMemory: int
    threads: int | None
    modules: int
    transformCode: int = Field(description="characters of transformed code held")
    transformMaps: int = Field(description="characters of source maps held")


class PageRequest(_Message):
    """A request a page made, as a wake's snapshot fetches it again (snapshots.py)."""

    url: str
    accept: str | None = None
    dest: str | None = Field(default=None, description="Sec-Fetch-Dest")
    navigation: bool


class PageLoads(_Reply):
    requests: list[PageRequest] = Field(description="the most recent last")


class Refused(_Reply):
    error: str


ControlReply = Shown | Healthy | MemoryReport | PageLoads | Refused


# ---------------------------------------------------------------------------- events


class Ready(_Message):
    """The dev server serves."""

    type: Literal["ready"]
    port: int | None = None
    socket: str | None = None
    viteVersion: str


class Log(_Message):
    type: Literal["log"]
    level: Literal["info", "warn", "error"] = "info"
    message: str


class Failed(_Message):
    """The agent could not do what it was started for; it exits."""

    type: Literal["error"]
    message: str
    detail: str | None = None


class Ack(_Message):
    """A page showed change ``seq`` (or could not: ``kind`` error)."""

    type: Literal["ack"]
    seq: int
    kind: Literal["update", "css", "reload", "error"]
    at: Ms = Field(description="when, unix time in ms, less the page's settling wait")
    page: str = Field(description="the page's id: each page acknowledges a change once")
    sinceShownMs: Ms | None = None


class Reloading(_Message):
    """A page reloads for change ``seq``."""

    type: Literal["reloading"]
    seq: int


class PagePreviewError(_Message, ErrorPlace):
    """A compile, runtime or update error (``preview.error``'s fields, the page's words)."""

    type: Literal["preview-error"]
    kind: Literal["compile", "runtime", "update"]
    message: str
    seq: int | None = Field(default=None, description="the agent's change that failed")


class PageConsole(_Message):
    """A page's console warning or error (repeats folded, the rate limited)."""

    type: Literal["console"]
    level: Literal["warn", "error"]
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    count: int
    dropped: int | None = None


class Built(_Message):
    type: Literal["built"]
    outDir: str
    viteVersion: str


AgentEvent = Annotated[
    Ready | Log | Failed | Ack | Reloading | PagePreviewError | PageConsole | Built,
    Field(discriminator="type"),
]
PageEvent = Ack | Reloading | PagePreviewError | PageConsole  # what a session's pages caused

_EVENT: TypeAdapter[AgentEvent] = TypeAdapter(AgentEvent)
_REPLIES: dict[str, type[_Reply]] = {
    "notify": Shown,
    "inject": Shown,
    "announce-restart": Shown,
    "health": Healthy,
    "memory": MemoryReport,
    "page-load": PageLoads,
}


def agent_event(line: str) -> AgentEvent:
    """One line of the agent's stdout as its event: a line that is not JSON is a ``log``
    (Node's own warnings); one that is JSON but not in the protocol is a ``log`` at
    ``error`` level saying so (never dropped in silence, never allowed to stop a session)."""
    try:
        data = json.loads(line)
    except ValueError:
        return Log(type="log", message=line)
    try:
        return _EVENT.validate_python(data)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
        return Log(type="log", level="error", message=f"agent protocol: {line[:300]} ({errors})")


def reply(action: str, data: Any) -> _Reply:
    """The answer to a request of ``action``, checked (:class:`Refused` if it says so).
    Raises pydantic's ValidationError for an answer outside the protocol."""
    if isinstance(data, dict) and "error" in data:
        return Refused.model_validate(data)
    return _REPLIES[action].model_validate(data)


def json_schema() -> dict[str, Any]:
    """The protocol as one JSON Schema (draft 2020-12) document: ``$defs`` holds
    ``AgentConfig``, ``Hello``, ``ControlRequest`` and ``AgentEvent`` (discriminated
    unions: ``oneOf`` with a ``discriminator``, as Ajv's ``discriminator`` option reads it,
    without pydantic's ``mapping``) and the models they name."""
    defs: dict[str, Any] = {}
    roots: dict[str, Any] = {
        "AgentConfig": AgentConfig,
        "Hello": Hello,
        "ControlRequest": ControlRequest,
        "AgentEvent": AgentEvent,
    }
    for name, shape in roots.items():
        schema = TypeAdapter(shape).json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        if "discriminator" in schema:  # Ajv's strict mode: a discriminator is an object's
            schema["discriminator"].pop("mapping", None)
            schema["type"] = "object"
        defs[name] = schema
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": "Made by kontext_preview/sandbox/protocol.py (make agent-schema): do not edit",
        "$defs": dict(sorted(defs.items())),
    }


def schema_text() -> str:
    """:func:`json_schema` as the agent's schema file holds it."""
    return json.dumps(json_schema(), indent=2) + "\n"
