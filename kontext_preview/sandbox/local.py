"""Local-process backend: one Node preview agent (and so one Vite) per session on this machine.

The embedded default, for one developer's machine: the project's code (its
vite.config, its dependencies) runs with the rights of this process. Production
runs sandboxes in containers instead.
"""

import asyncio
import contextlib
import json
import os
import random
import secrets
import socket
from collections import deque
from collections.abc import Sequence
from typing import Any

import httpx

from kontext_preview.config import Settings
from kontext_preview.errors import SandboxError
from kontext_preview.sandbox.base import (
    Endpoint,
    EventSink,
    LogSink,
    Sandbox,
    SandboxBackend,
    SandboxSpec,
    Shown,
)
from kontext_preview.sandbox.npm import prepare_dependencies
from kontext_preview.sandbox.process import read_json_lines, terminate_group
from kontext_preview.workspace.vfs import FileChange

START_ATTEMPTS = 3
_PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


class PortTaken(SandboxError):
    pass


class LocalSandbox(Sandbox):
    def __init__(
        self,
        process: asyncio.subprocess.Process,
        endpoint: Endpoint,
        token: str,
        client: httpx.AsyncClient,
        settings: Settings,
    ):
        self.process = process
        self.endpoint = endpoint
        self.token = token
        self._client = client
        self._settings = settings
        self._pumps: list[asyncio.Task[None]] = []
        self.port_release: asyncio.Task[None] | None = None

    async def poll(self) -> int | None:
        return self.process.returncode

    async def wait(self) -> int:
        return await self.process.wait()

    async def notify(self, changes: Sequence[FileChange]) -> Shown:
        body = {"changes": [{"path": c.path, "event": c.event} for c in changes]}
        return _shown(await self._control("notify", body))

    async def inject_css(self, paths: Sequence[str]) -> Shown:
        return _shown(await self._control("inject", {"paths": list(paths)}))

    async def _control(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self._client.post(
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

    async def stop(self, now: bool = False) -> None:
        process = self.process
        if process.returncode is None and not now and process.stdin:
            process.stdin.close()  # the agent closes Vite cleanly and exits
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(process.wait(), self._settings.stop_timeout_seconds)
        await terminate_group(process, self._settings.stop_timeout_seconds)
        for pump in self._pumps:
            pump.cancel()

    def get_state(self) -> dict[str, Any]:
        return {"pid": self.process.pid, "host": self.endpoint.host, "port": self.endpoint.port}


class LocalBackend(SandboxBackend):
    name = "local"

    def __init__(self, settings: Settings):
        self.settings = settings
        self._client = httpx.AsyncClient(trust_env=False)
        self._ports_in_use: set[int] = set()

    async def prepare(self, spec: SandboxSpec, log: LogSink) -> None:
        await prepare_dependencies(self.settings, spec, log)

    async def start(
        self, spec: SandboxSpec, log: LogSink, report: EventSink | None = None
    ) -> Sandbox:
        for _ in range(START_ATTEMPTS):
            port = self._free_port()
            try:
                return await self._start_on(spec, port, log, report)
            except PortTaken as exc:
                log(f"{exc.message}; trying another port")
        raise SandboxError(f"could not find a free port for Vite after {START_ATTEMPTS} tries")

    async def aclose(self) -> None:
        await self._client.aclose()

    def _free_port(self) -> int:
        low, high = self.settings.sandbox_port_min, self.settings.sandbox_port_max
        candidates = list(range(low, high + 1))
        random.shuffle(candidates)
        for port in candidates:
            if port not in self._ports_in_use and _port_is_free(port):
                return port
        raise SandboxError(
            f"no free port for Vite between {low} and {high}: all are taken "
            "(widen KONTEXT_SANDBOX_PORT_MIN / KONTEXT_SANDBOX_PORT_MAX or end some sessions)"
        )

    async def _start_on(
        self, spec: SandboxSpec, port: int, log: LogSink, report: EventSink | None
    ) -> Sandbox:
        token = secrets.token_urlsafe(24)
        process = await asyncio.create_subprocess_exec(
            self.settings.node_binary,
            str(self.settings.agent_dir / "agent.mjs"),
            json.dumps(self._agent_config(spec, port, token)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=spec.vite_root,
            env={k: v for k, v in os.environ.items() if k in _PASSED_ENV},
            start_new_session=True,
        )
        self._ports_in_use.add(port)
        sandbox = LocalSandbox(
            process, Endpoint("127.0.0.1", port), token, self._client, self.settings
        )
        try:
            await self._await_ready(sandbox, log, report)
        except BaseException:
            await sandbox.stop(now=True)
            self._ports_in_use.discard(port)
            raise
        # Not a pump: stop() must not cancel it, or the port would never be free again.
        sandbox.port_release = asyncio.create_task(self._release_port_on_exit(sandbox))
        return sandbox

    async def _await_ready(
        self, sandbox: LocalSandbox, log: LogSink, report: EventSink | None
    ) -> None:
        process = sandbox.process
        assert process.stdout and process.stderr
        recent: deque[str] = deque(maxlen=8)

        def remember(line: str) -> None:
            recent.append(line)
            log(line)

        sandbox._pumps.append(asyncio.create_task(_pump_stderr(process.stderr, remember)))
        events = read_json_lines(process.stdout)
        timeout = self.settings.startup_timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                async for event in events:
                    if event.get("type") == "ready":
                        log(
                            f"Vite {event.get('viteVersion')} ready on port {sandbox.endpoint.port}"
                        )
                        sandbox._pumps.append(
                            asyncio.create_task(_pump_events(events, log, report))
                        )
                        return
                    _handle_event(event, remember)
        except TimeoutError:
            raise SandboxError(f"Vite did not start within {timeout:g} s") from None
        code = await process.wait()
        raise SandboxError(
            f"Vite exited with code {code} before it was ready: " + " | ".join(recent)
        )

    async def _release_port_on_exit(self, sandbox: LocalSandbox) -> None:
        await sandbox.process.wait()
        self._ports_in_use.discard(sandbox.endpoint.port)

    def _agent_config(self, spec: SandboxSpec, port: int, token: str) -> dict[str, Any]:
        return {
            "sessionId": spec.session_id,
            "root": str(spec.vite_root),
            "workspace": str(spec.workspace),
            "templateDir": str(self.settings.template_dir),
            "cacheDir": str(spec.cache_dir),
            "port": port,
            "bindHost": self.settings.sandbox_bind_host,
            "token": token,
            "publicHost": spec.public_host,
            "wsClientPort": spec.ws_client_port,
            "wsPath": spec.ws_path,
            "wsProtocol": spec.ws_protocol,
            "addReactPlugin": spec.add_react_plugin,
        }


def _handle_event(event: dict[str, Any], log: LogSink) -> None:
    if event.get("type") == "error":
        message = str(event.get("message", "unknown error"))
        if "already in use" in message:
            raise PortTaken(message)
        log(f"error: {message}")
        raise SandboxError(f"Vite could not start: {message}")
    if event.get("type") == "log":
        log(str(event.get("message", "")))


async def _pump_events(events: Any, log: LogSink, report: EventSink | None) -> None:
    async for event in events:
        if event.get("type") in ("ack", "preview-error"):
            if report:
                report(event)
            continue
        with contextlib.suppress(SandboxError):
            _handle_event(event, log)


def _shown(answer: dict[str, Any]) -> Shown:
    return Shown(
        affected=list(answer.get("affected", [])),
        injected=list(answer.get("injected", [])),
        seq=answer.get("seq"),
        clients=int(answer.get("clients", 0)),
    )


async def _pump_stderr(stream: asyncio.StreamReader, log: LogSink) -> None:
    while line := await stream.readline():
        log(line.decode(errors="replace").rstrip())


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
