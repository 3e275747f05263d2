"""Talking to the Node preview agent (``sandbox-images/agent/agent.mjs``), wherever it runs.

Every backend runs the same agent: it is started with one JSON config, reports on
stdout one JSON object a line (``ready``, ``log``, ``error``, and later ``ack`` and
``preview-error``), and takes changes on its control channel: a Unix socket in the
session's run folder, one JSON line each way over one persistent connection, opened
with the session's token (:class:`ControlChannel`; a fraction of an HTTP request's
cost on every update). Every message is a model of the agent protocol
(:mod:`kontext_preview.sandbox.protocol`), checked on receipt on both sides.
:class:`AgentSandbox` holds what does not depend on where the agent runs: the control
calls, waiting for ``ready`` and pumping the later events. Backends say how the agent is
started, waited for and stopped.
"""

import asyncio
import base64
import contextlib
import hashlib
import json
import os
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from kontext_preview.config import Settings
from kontext_preview.errors import SandboxError
from kontext_preview.sandbox.base import (
    Endpoint,
    EventSink,
    LogSink,
    NotifyResult,
    Sandbox,
    SandboxSpec,
)
from kontext_preview.sandbox.forward import open_unix_safely
from kontext_preview.sandbox.protocol import (
    AgentEvent,
    AnnounceRestart,
    ControlRequest,
    DevServerConfig,
    Failed,
    FileChanged,
    Health,
    Hello,
    Inject,
    Log,
    Notify,
    PageEvent,
    PageLoad,
    PageLoads,
    Ready,
    Refused,
    Shown,
    reply,
)
from kontext_preview.workspace.layout import DevServerName
from kontext_preview.workspace.vfs import FileChange

CONTROL_SOCKET = "control.sock"  # in the session's run folder

AgentEvents = AsyncIterator[AgentEvent]


class PortTaken(SandboxError):
    pass


class ControlChannel:
    """The agent's control socket: requests go one at a time, each answered in order."""

    def __init__(self, socket_path: Path, token: str, settings: Settings):
        self.socket_path = socket_path
        self.token = token
        self.timeout = settings.notify_timeout_seconds
        self._lock = asyncio.Lock()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._last_id = 0

    async def call(self, make: Callable[[int], ControlRequest]) -> Any:
        """Send the request ``make(id)`` makes and answer its reply (the protocol's model for
        its action). Raises SandboxError if the agent does not answer, refuses, or answers
        outside the protocol."""
        async with self._lock:
            self._last_id += 1
            request = make(self._last_id)
            try:
                async with asyncio.timeout(self.timeout):
                    reader, writer = await self._connection()
                    writer.write(request.model_dump_json().encode() + b"\n")
                    line = await reader.readline()
            except (OSError, TimeoutError) as exc:
                self.close()
                raise SandboxError(f"the preview's dev server did not answer: {exc!r}") from None
            except SandboxError:
                self.close()
                raise
            try:
                answer = reply(request.action, json.loads(line))
            except ValueError:  # ValidationError too: not JSON, or not the protocol's
                self.close()
                raise SandboxError(
                    "the preview's dev server closed its control channel"
                    if not line
                    else f"the preview's dev server answered outside its protocol: {line[:300]!r}"
                ) from None
            if answer.id != self._last_id:
                self.close()
                raise SandboxError("the preview's dev server closed its control channel")
        if isinstance(answer, Refused):
            raise SandboxError(f"the preview's dev server refused {request.action}: {answer.error}")
        return answer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await open_unix_safely(self.socket_path)
            self._writer.write(Hello(token=self.token).model_dump_json().encode() + b"\n")
        return self._reader, self._writer


# What the `ready` event's version is of, per adapter (Astro's is its Vite's)
SHOWN_NAMES: dict[DevServerName, str] = {"vite": "Vite", "astro": "Vite", "next": "Next.js"}


class AgentSandbox(Sandbox):
    """A running agent: its dev server at ``endpoint``, its control channel at ``control``."""

    def __init__(self, endpoint: Endpoint, control: ControlChannel, settings: Settings):
        self.endpoint = endpoint
        self.control = control
        self._settings = settings
        self._pumps: list[asyncio.Task[None]] = []
        self.recent: deque[str] = deque(maxlen=8)  # the last lines, for a failed start

    def remembering(self, log: LogSink) -> LogSink:
        def remember(line: str) -> None:
            self.recent.append(line)
            log(line)

        return remember

    async def notify(self, changes: Sequence[FileChange], *, fresh: bool = False) -> NotifyResult:
        body = [FileChanged(path=c.path, event=c.event) for c in changes]
        return _shown(
            await self.control.call(
                lambda id: Notify(id=id, action="notify", changes=body, fresh=fresh)
            )
        )

    async def inject_css(self, paths: Sequence[str]) -> NotifyResult:
        return _shown(
            await self.control.call(lambda id: Inject(id=id, action="inject", paths=list(paths)))
        )

    async def announce_restart(self, seq: int) -> NotifyResult:
        return _shown(
            await self.control.call(
                lambda id: AnnounceRestart(id=id, action="announce-restart", seq=seq)
            )
        )

    async def page_requests(self) -> list[dict[str, Any]]:
        answer: PageLoads = await self.control.call(lambda id: PageLoad(id=id, action="page-load"))
        return [r.model_dump() for r in answer.requests]

    async def healthy(self) -> bool:
        try:
            await self.control.call(lambda id: Health(id=id, action="health"))
        except SandboxError:
            return False
        return True

    async def await_ready(
        self,
        events: AgentEvents,
        log: LogSink,
        report: EventSink | None,
        exit_code: Callable[[], Awaitable[int]],
        dev_server: DevServerName = "vite",
    ) -> None:
        """Read the agent's events until it is ready (then keep pumping them in the
        background); raise SandboxError if it exits or times out first, naming the dev
        server (``dev_server``: the spec's adapter)."""
        name = SHOWN_NAMES[dev_server]
        remember = self.remembering(log)
        timeout = self._settings.startup_timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                async for event in events:
                    if isinstance(event, Ready):
                        where = f"port {event.port}" if event.port else "its socket"
                        log(f"{name} {event.viteVersion} ready on {where}")
                        self.pump(events, log, report)
                        return
                    handle_event(event, remember)
        except TimeoutError:
            raise SandboxError(f"{name} did not start within {timeout:g} s") from None
        code = await exit_code()
        raise SandboxError(
            f"{name} exited with code {code} before it was ready: " + " | ".join(self.recent)
        )

    def pump(self, events: AgentEvents, log: LogSink, report: EventSink | None) -> None:
        """Pass the agent's later events on (acks and page errors to ``report``)."""
        self._pumps.append(asyncio.create_task(_pump_events(events, log, report)))

    def stop_pumps(self) -> None:
        """Stop following the agent: its events and its control channel."""
        for pump in self._pumps:
            pump.cancel()
        self.control.close()


def agent_config(spec: SandboxSpec, token: str, **where: Any) -> DevServerConfig:
    """The agent's config: the session's part, plus where things are (``where``: root,
    workspace, templateDir, cacheDir, controlSocket and how to listen). Raises pydantic's
    ValidationError for a field the protocol does not have."""
    return DevServerConfig(
        mode="dev",
        sessionId=spec.session_id,
        token=token,
        wsToken=hmr_token(spec.session_id),
        warmUrls=list(spec.warm_urls),
        launchSeq=spec.launch_seq,
        publicHost=spec.public_host,
        wsClientPort=spec.ws_client_port,
        wsPath=spec.ws_path,
        wsProtocol=spec.ws_protocol,
        addReactPlugin=spec.add_react_plugin,
        devServer=spec.dev_server,
        **where,
    )


AGENT_CONFIG = "agent.json"  # in the session's run folder: the agent's config, token included


def write_agent_config(run_dir: Path, config: DevServerConfig, owner: int | None = None) -> Path:
    """Write the agent's config (its control token among it) to ``run_dir/agent.json``,
    readable by its owner only (``owner``: the uid the agent runs as, if not this process's),
    so that no command line (``ps``), container label or environment (``docker inspect``)
    carries the token: the agent is started with ``@<path>`` (agent.mjs reads the file).
    Answers the file's path on this machine."""
    path = run_dir / AGENT_CONFIG
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        if owner is not None:
            os.fchown(out.fileno(), owner, owner)
        out.write(config.model_dump_json(exclude_none=True))
    return path


def read_agent_token(run_dir: Path) -> str | None:
    """The control token of the agent started with ``run_dir``'s config (None: none there)."""
    try:
        token = json.loads((run_dir / AGENT_CONFIG).read_text()).get("token")
    except (OSError, ValueError, AttributeError):
        return None
    return token if isinstance(token, str) else None


def hmr_token(session_id: str) -> str:
    """The token Vite's HMR socket asks of pages (``webSocketToken``, Vite 6.0.9+, 5.4.12+,
    4.5.6+; random per start by default), the same for every start of a session, so that a
    page loaded before a restart (a wake's snapshot) connects to the next dev server. Vite
    puts it into ``/@vite/client`` for anyone who loads the preview: it is as secret as the
    preview's host name (the session id), which this derives it from."""
    digest = hashlib.sha256(b"kontext-preview hmr token\0" + session_id.encode()).digest()
    return base64.urlsafe_b64encode(digest[:9]).decode()


def handle_event(event: AgentEvent, log: LogSink) -> None:
    """A start's event: an ``error`` raises SandboxError (PortTaken for a port in use), a
    ``log`` is logged; the rest are the pages' (:data:`PageEvent`), handled by the pump."""
    if isinstance(event, Failed):
        if "already in use" in event.message:
            raise PortTaken(event.message)
        log(f"error: {event.message}")
        raise SandboxError(f"Vite could not start: {event.message}")
    if isinstance(event, Log):
        log(event.message)


async def _pump_events(events: AgentEvents, log: LogSink, report: EventSink | None) -> None:
    async for event in events:
        if isinstance(event, PageEvent):
            if report:
                report(event)
            continue
        with contextlib.suppress(SandboxError):
            handle_event(event, log)


def _shown(answer: Shown) -> NotifyResult:
    return NotifyResult(
        affected=answer.affected, injected=answer.injected, seq=answer.seq, clients=answer.clients
    )
