"""Local-process backend: one Node preview agent (and so one Vite) per session on this machine.

The embedded default, for one developer's machine: the project's code (its
vite.config, its dependencies) runs with the rights of this process. Production
runs sandboxes in containers instead (``kontext_preview.sandbox.docker``).
An agent exits when the process that started it does (its stdin closes), so
there is nothing to re-adopt after a restart: ``adopt`` finds nothing.
"""

import asyncio
import contextlib
import secrets
from collections.abc import Sequence
from pathlib import Path

from kontext_preview.config import Settings
from kontext_preview.errors import SandboxError
from kontext_preview.sandbox.agent import (
    CONTROL_SOCKET,
    AgentSandbox,
    ControlChannel,
    PortTaken,
    agent_config,
    write_agent_config,
)
from kontext_preview.sandbox.base import (
    Endpoint,
    EventSink,
    LogSink,
    Prepared,
    Sandbox,
    SandboxBackend,
    SandboxSpec,
    ToolPaths,
)
from kontext_preview.sandbox.dependencies import install_here, prepare_dependencies
from kontext_preview.sandbox.ports import PortPool
from kontext_preview.sandbox.process import (
    BACKGROUND_NICENESS,
    agent_events,
    log_lines,
    minimal_env,
    run_to_end,
    terminate_group,
)

START_ATTEMPTS = 3


class LocalSandbox(AgentSandbox):
    def __init__(
        self,
        process: asyncio.subprocess.Process,
        endpoint: Endpoint,
        control: ControlChannel,
        settings: Settings,
    ):
        super().__init__(endpoint, control, settings)
        self.process = process
        self.port_release: asyncio.Task[None] | None = None

    async def wait(self) -> int:
        return await self.process.wait()

    async def stop(self, now: bool = False) -> None:
        process = self.process
        if process.returncode is None and not now and process.stdin:
            process.stdin.close()  # the agent closes Vite cleanly and exits
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(process.wait(), self._settings.stop_timeout_seconds)
        await terminate_group(process, self._settings.stop_timeout_seconds)
        self.stop_pumps()


class LocalBackend(SandboxBackend):
    name = "local"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.ports = PortPool(settings)

    async def prepare(self, spec: SandboxSpec, log: LogSink) -> Prepared:
        settings = self.settings
        return await prepare_dependencies(
            settings,
            spec,
            log,
            install=lambda run, log: install_here(settings, run, log),
            home=spec.workspace,  # node_modules folders where the project has them
        )

    def tool_paths(self, spec: SandboxSpec, out: Path) -> ToolPaths:
        settings = self.settings
        return ToolPaths(
            workspace=str(spec.workspace),
            out=str(out),
            scratch=str(spec.cache_dir),
            agent=str(settings.agent_dir / "agent.mjs"),
            template=str(settings.template_dir),
            deployer=str(settings.deployer_tools_dir),
        )

    async def run_tool(
        self, spec: SandboxSpec, out: Path, args: Sequence[str], cwd: Path, on_line: LogSink
    ) -> int:
        """A process of this machine (the project's code runs with this process's rights,
        as its dev server does), with a minimal environment, at the lowest CPU priority."""
        node = str(spec.node or self.settings.node_binary)
        try:
            return await run_to_end(
                [node, *args], cwd, minimal_env(), on_line, niceness=BACKGROUND_NICENESS
            )
        except OSError as exc:
            raise SandboxError(f"could not run {node}: {exc.strerror}") from None

    async def start(
        self, spec: SandboxSpec, log: LogSink, report: EventSink | None = None
    ) -> Sandbox:
        for _ in range(START_ATTEMPTS):
            port = self.ports.free_port()
            try:
                return await self._start_on(spec, port, log, report)
            except PortTaken as exc:
                log(f"{exc.message}; trying another port")
        raise SandboxError(f"could not find a free port for Vite after {START_ATTEMPTS} tries")

    async def _start_on(
        self, spec: SandboxSpec, port: int, log: LogSink, report: EventSink | None
    ) -> Sandbox:
        token = secrets.token_urlsafe(24)
        settings = self.settings
        spec.run_dir.mkdir(parents=True, exist_ok=True)
        control = ControlChannel(spec.run_dir / CONTROL_SOCKET, token, settings)
        config = agent_config(
            spec,
            token,
            root=str(spec.vite_root),
            workspace=str(spec.workspace),
            templateDir=str(settings.template_dir),
            templateDirs=[str(d) for d in settings.template_dirs],
            cacheDir=str(spec.cache_dir),
            controlSocket=str(control.socket_path),
            port=port,
            bindHost=settings.sandbox_bind_host,
        )
        config_file = write_agent_config(spec.run_dir, config)
        process = await asyncio.create_subprocess_exec(
            str(spec.node or settings.node_binary),
            str(settings.agent_dir / "agent.mjs"),
            f"@{config_file}",  # not the config itself: ps would show its token
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=spec.vite_root,
            env=minimal_env() | settings.dev_server_env,
            start_new_session=True,
        )
        self.ports.in_use.add(port)
        sandbox = LocalSandbox(process, Endpoint("127.0.0.1", port), control, settings)
        assert process.stdout and process.stderr
        try:
            sandbox.pump(log_lines(process.stderr), sandbox.remembering(log), None)
            await sandbox.await_ready(
                agent_events(process.stdout), log, report, process.wait, spec.dev_server
            )
        except BaseException:
            await sandbox.stop(now=True)
            self.ports.in_use.discard(port)
            raise
        # Not a pump: stop() must not cancel it, or the port would never be free again.
        sandbox.port_release = asyncio.create_task(self._release_port_on_exit(sandbox))
        return sandbox

    async def _release_port_on_exit(self, sandbox: LocalSandbox) -> None:
        await sandbox.process.wait()
        self.ports.in_use.discard(sandbox.endpoint.port)
