"""Talking to the Node preview agent (``sandbox-images/agent/agent.mjs``), wherever it runs.

Every backend runs the same agent: it is started with one JSON config, reports on
stdout one JSON object a line (``ready``, ``log``, ``error``, and later ``ack`` and
``preview-error``), and takes changes on its control endpoint
(``/__kontext/notify`` and ``/__kontext/inject``, guarded by a per-session token).
:class:`AgentSandbox` holds what does not depend on where the agent runs: the
control calls, waiting for ``ready`` and pumping the later events. Backends say
how the agent is started, waited for and stopped.
"""

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import httpx

from kontext_preview.config import Settings
from kontext_preview.errors import SandboxError
from kontext_preview.sandbox.base import (
    Endpoint,
    EventSink,
    LogSink,
    Sandbox,
    SandboxSpec,
    Shown,
)
from kontext_preview.workspace.vfs import FileChange

AgentEvents = AsyncIterator[dict[str, Any]]


class PortTaken(SandboxError):
    pass


class AgentSandbox(Sandbox):
    """A running agent reached over HTTP at ``endpoint``."""

    def __init__(
        self, endpoint: Endpoint, token: str, client: httpx.AsyncClient, settings: Settings
    ):
        self.endpoint = endpoint
        self.token = token
        self._client = client
        self._settings = settings
        self._pumps: list[asyncio.Task[None]] = []
        self.recent: deque[str] = deque(maxlen=8)  # the last lines, for a failed start

    def remembering(self, log: LogSink) -> LogSink:
        def remember(line: str) -> None:
            self.recent.append(line)
            log(line)

        return remember

    async def notify(self, changes: Sequence[FileChange]) -> Shown:
        body = {"changes": [{"path": c.path, "event": c.event} for c in changes]}
        return _shown(await self._control("notify", body))

    async def inject_css(self, paths: Sequence[str]) -> Shown:
        return _shown(await self._control("inject", {"paths": list(paths)}))

    async def healthy(self) -> bool:
        try:
            await self._control("health", None)
        except SandboxError:
            return False
        return True

    async def _control(self, action: str, body: dict[str, Any] | None) -> dict[str, Any]:
        try:
            response = await self._client.request(
                "POST" if body is not None else "GET",
                f"{self.endpoint.http_url}/__kontext/{action}",
                json=body,
                headers={"x-kontext-token": self.token},
                timeout=self._settings.notify_timeout_seconds,
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise SandboxError(f"the preview's dev server did not take the change: {exc}") from exc
        answer: dict[str, Any] = response.json()
        return answer

    async def await_ready(
        self,
        events: AgentEvents,
        log: LogSink,
        report: EventSink | None,
        exit_code: Callable[[], Awaitable[int]],
    ) -> None:
        """Read the agent's events until it is ready (then keep pumping them in the
        background); raise SandboxError if it exits or times out first."""
        remember = self.remembering(log)
        timeout = self._settings.startup_timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                async for event in events:
                    if event.get("type") == "ready":
                        port = event.get("port")
                        where = f"port {port}" if port else "its socket"
                        log(f"Vite {event.get('viteVersion')} ready on {where}")
                        self.pump(events, log, report)
                        return
                    handle_event(event, remember)
        except TimeoutError:
            raise SandboxError(f"Vite did not start within {timeout:g} s") from None
        code = await exit_code()
        raise SandboxError(
            f"Vite exited with code {code} before it was ready: " + " | ".join(self.recent)
        )

    def pump(self, events: AgentEvents, log: LogSink, report: EventSink | None) -> None:
        """Pass the agent's later events on (acks and page errors to ``report``)."""
        self._pumps.append(asyncio.create_task(_pump_events(events, log, report)))

    def stop_pumps(self) -> None:
        for pump in self._pumps:
            pump.cancel()


def agent_config(spec: SandboxSpec, token: str, **where: Any) -> dict[str, Any]:
    """The agent's config: the session's part, plus where things are (``where``: root,
    workspace, templateDir, cacheDir and how to listen)."""
    return {
        "sessionId": spec.session_id,
        "token": token,
        "publicHost": spec.public_host,
        "wsClientPort": spec.ws_client_port,
        "wsPath": spec.ws_path,
        "wsProtocol": spec.ws_protocol,
        "addReactPlugin": spec.add_react_plugin,
        **where,
    }


def handle_event(event: dict[str, Any], log: LogSink) -> None:
    if event.get("type") == "error":
        message = str(event.get("message", "unknown error"))
        if "already in use" in message:
            raise PortTaken(message)
        log(f"error: {message}")
        raise SandboxError(f"Vite could not start: {message}")
    if event.get("type") == "log":
        log(str(event.get("message", "")))


async def _pump_events(events: AgentEvents, log: LogSink, report: EventSink | None) -> None:
    async for event in events:
        if event.get("type") in ("ack", "preview-error"):
            if report:
                report(event)
            continue
        with contextlib.suppress(SandboxError):
            handle_event(event, log)


def _shown(answer: dict[str, Any]) -> Shown:
    return Shown(
        affected=list(answer.get("affected", [])),
        injected=list(answer.get("injected", [])),
        seq=answer.get("seq"),
        clients=int(answer.get("clients", 0)),
    )
