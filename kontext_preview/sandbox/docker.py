"""Docker backend: every preview session's dev server in its own hardened container.

Production's backend: the AI's code (vite.config, dependencies) runs in a
container made by :mod:`kontext_preview.sandbox.containers` (non-root, read-only,
no capabilities, limits, no network), reached only through the Unix socket its
agent listens on, which this node publishes on a loopback port
(:class:`~kontext_preview.sandbox.forward.UnixSocketForwarder`). Files reach it through
the session's workspace, mounted read-only. Dependencies the prepared template
lacks are installed by a short-lived container running
``npm install --ignore-scripts`` with a shared cache volume, and a deployment's
build (``run_tool``) runs in a short-lived container like a dev server's.

Containers are labelled with the session, so a restarted worker takes over the
ones still running (``adopt``) and removes those no session claims (``reap``).
Docker's own errors are turned into SandboxError with what to do about them.
"""

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from kontext_preview.config import Settings
from kontext_preview.errors import SandboxError
from kontext_preview.sandbox import containers as c
from kontext_preview.sandbox.agent import (
    AGENT_CONFIG,
    CONTROL_SOCKET,
    AgentSandbox,
    ControlChannel,
    agent_config,
    read_agent_token,
    write_agent_config,
)
from kontext_preview.sandbox.base import (
    Endpoint,
    EventSink,
    LogSink,
    Prepared,
    SandboxBackend,
    SandboxSpec,
    ToolPaths,
)
from kontext_preview.sandbox.dependencies import (
    InstallRun,
    configured_registry,
    follow_install,
    npm_registry_env,
    prepare_dependencies,
)
from kontext_preview.sandbox.forward import UnixSocketForwarder
from kontext_preview.sandbox.managers import Toolbox, install_command
from kontext_preview.sandbox.ports import PortPool
from kontext_preview.sandbox.process import agent_events, text_lines
from kontext_preview.sandbox.protocol import DevServerConfig

log = logging.getLogger(__name__)
LOWEST_CPU_SHARES = 2  # Docker's minimum CPU weight (the default is 1024)
T = TypeVar("T")
ICC = "com.docker.network.bridge.enable_icc"
PAUSE_SHAPE = "pause"
PAUSE_MEMORY_MB = 64  # an idle node: ~40 MiB resident


class DockerSandbox(AgentSandbox):
    def __init__(
        self,
        backend: "DockerBackend",
        container: Any,
        door: UnixSocketForwarder,
        token: str,
        output: c.OutputStream,
        session_log: LogSink,
    ):
        settings = backend.settings
        endpoint = Endpoint(_reachable(settings.sandbox_bind_host), door.port)
        control = ControlChannel(door.socket_path.with_name(CONTROL_SOCKET), token, settings)
        super().__init__(endpoint, control, settings)
        self.backend = backend
        self.container = container
        self.door = door
        self.output = output
        self.session_log = session_log
        self._told_oom = False
        self._cap: asyncio.Task[None] | None = None

    def cap_cpus_after(self, seconds: float) -> None:
        """Lower the container's CPU quota to ``docker_cpus`` after ``seconds`` (its start
        burst over); at once when 0."""

        async def cap() -> None:
            await asyncio.sleep(seconds)
            quota = c.cpu_quota(self._settings.docker_cpus)
            with contextlib.suppress(SandboxError):  # gone already
                await self.backend._docker(lambda _: self.container.update(**quota))

        self._cap = asyncio.ensure_future(cap())

    def stop_pumps(self) -> None:
        """Stop following the agent, and the pending cap of its start burst."""
        super().stop_pumps()
        if self._cap is not None:
            self._cap.cancel()

    async def wait(self) -> int:
        code = await asyncio.shield(self.output.exit_code)
        if self.output.oom_killed and not self._told_oom:
            self._told_oom = True
            self.session_log(
                f"the container was killed at its memory limit "
                f"({self._settings.docker_memory_mb} MiB, KONTEXT_DOCKER_MEMORY_MB)"
            )
        return code

    async def stop(self, now: bool = False) -> None:
        self.stop_pumps()
        timeout = 0 if now else int(self._settings.stop_timeout_seconds)
        await self.backend.remove(self.container, timeout)
        await self.door.close()

    async def detach(self) -> bool:
        self.stop_pumps()
        self.output.detach()
        await self.door.close()
        return True


class DockerBackend(SandboxBackend):
    name = "docker"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.scope = c.scope_of(settings)
        self.ports = PortPool(settings)
        pool = settings.max_running_sessions + 8
        self._threads = ThreadPoolExecutor(max_workers=16, thread_name_prefix="docker")
        self._client: Any = None
        self._network_ready = False
        self._pause: Any = None
        self._pause_lock = asyncio.Lock()
        self._client_factory = partial(docker.from_env, max_pool_size=pool, timeout=120)

    # -- the contract ----------------------------------------------------------------------

    async def prepare(self, spec: SandboxSpec, log: LogSink) -> Prepared:
        folders = c.SessionFolders.of(spec)
        prepared = await prepare_dependencies(
            self.settings,
            spec,
            log,
            in_sandbox=lambda path: c.in_image(self.settings, path),
            install=self._install,
            home=folders.deps,  # deps/<folder>/node_modules, mounted at <folder>/node_modules
        )
        for tree in c.mounted_trees(folders):  # the mount points, in the workspace
            (spec.workspace / tree / "node_modules").mkdir(parents=True, exist_ok=True)
            c.point_vite_temp_at_tmpfs(folders.deps / tree / "node_modules")
        return prepared

    def installed_packages(self, spec: SandboxSpec) -> Path:
        """deps/<folder>/node_modules where an install made it, else the workspace's (the
        template's link)."""
        folders = c.SessionFolders.of(spec)
        if c.uses_installed_deps(spec, folders):
            return folders.deps / spec.package_dir.relative_to(spec.workspace) / "node_modules"
        return spec.package_dir / "node_modules"

    async def start(
        self, spec: SandboxSpec, log: LogSink, report: EventSink | None = None
    ) -> DockerSandbox:
        folders = c.SessionFolders.of(spec)
        c.writable_folder(folders.run)
        folders.socket.unlink(missing_ok=True)
        token = secrets.token_urlsafe(24)
        mounts = c.dev_server_mounts(spec, folders)
        shape = c.shape_of(spec, self.settings, c.uses_installed_deps(spec, folders))
        labels = self._labels(spec.session_id, shape)
        config = self._agent_config(spec, token)
        # The config (its token) in a file of the run folder the container's user alone may
        # read: neither the command line nor a label nor the environment carries it.
        uid, _ = c.sandbox_user()
        write_agent_config(folders.run, config, uid if uid != os.getuid() else None)
        network = await self._network()
        hardening = c.hardening(self.settings)
        hardening["tmpfs"] |= c.generated_tmpfs(spec, self.settings)
        hardening["environment"] |= self.settings.dev_server_env
        mounts += c.node_mounts(spec)
        burst = self._start_cpus()
        del hardening["nano_cpus"]
        hardening |= c.cpu_quota(burst or self.settings.docker_cpus)
        container = await self._run(
            lambda d: d.containers.run(
                self.settings.docker_image,
                [f"@{c.RUN_DIR / AGENT_CONFIG}"],
                entrypoint=[c.node_in_container(spec), str(c.AGENT)],
                name=f"kontext-{spec.session_id[:16]}-{secrets.token_hex(3)}",
                labels=labels,
                mounts=mounts,
                working_dir=str(c.in_container(spec, spec.vite_root)),
                **network,
                **hardening,
            )
        )
        try:
            sandbox = await self._attach(container, folders, token, log)
        except BaseException:
            await self.remove(container, 0)
            raise
        if burst:
            sandbox.cap_cpus_after(self.settings.docker_start_seconds)
        try:
            events = agent_events(sandbox.output.reader)
            await sandbox.await_ready(events, log, report, sandbox.wait, spec.dev_server)
        except BaseException:
            await sandbox.stop(now=True)
            raise
        return sandbox

    def tool_paths(self, spec: SandboxSpec, out: Path) -> ToolPaths:
        return ToolPaths(
            workspace=str(c.WORKSPACE),
            out=str(c.OUT_DIR),
            scratch=str(c.TEMP_DIR),
            agent=str(c.AGENT),
            template=str(c.TEMPLATE),
            deployer=str(c.DEPLOYER),
        )

    async def run_tool(
        self, spec: SandboxSpec, out: Path, args: Sequence[str], cwd: Path, on_line: LogSink
    ) -> int:
        """In a container as hardened as a dev server's, with no network and Docker's lowest
        CPU weight (``cpu_shares`` 2: dev servers come first when the CPU is short);
        removed after."""
        c.writable_folder(out)
        mounts = c.tool_mounts(spec, c.SessionFolders.of(spec), out) + c.node_mounts(spec)
        hardening = c.hardening(self.settings)
        hardening["tmpfs"] |= c.generated_tmpfs(spec, self.settings)
        container = await self._run(
            lambda d: d.containers.run(
                self.settings.docker_image,
                list(args),
                entrypoint=[c.node_in_container(spec)],
                name=f"kontext-tool-{spec.session_id[:16]}-{secrets.token_hex(3)}",
                labels=self._labels(spec.session_id, "tool"),
                mounts=mounts,
                working_dir=str(c.in_container(spec, cwd)),
                network_mode="none",
                cpu_shares=LOWEST_CPU_SHARES,
                **hardening,
            )
        )
        output = c.OutputStream(container)
        try:
            async for line in text_lines(output.reader):
                on_line(line)
            return await asyncio.shield(output.exit_code)
        finally:
            await self.remove(container, 0)

    async def adopt(
        self, spec: SandboxSpec, log: LogSink, report: EventSink | None = None
    ) -> DockerSandbox | None:
        folders = c.SessionFolders.of(spec)
        shape = c.shape_of(spec, self.settings, c.uses_installed_deps(spec, folders))
        found = await self._containers(f"{c.SESSION}={spec.session_id}")
        adopted = None
        for container in found:
            labels = container.labels
            if adopted is None and container.status == "running" and labels.get(c.SHAPE) == shape:
                token = read_agent_token(folders.run) or ""
                sandbox = await self._attach(container, folders, token, log, int(time.time()))
                if await sandbox.healthy():
                    sandbox.cap_cpus_after(0)  # its start is over (or was another's)
                    sandbox.pump(agent_events(sandbox.output.reader), log, report)
                    adopted = sandbox
                    continue
                await sandbox.detach()
            await self.remove(container, 0)
        return adopted

    async def reap(self, keep: Collection[str]) -> list[str]:
        reaped = []
        for container in await self._containers():
            session_id = container.labels.get(c.SESSION)
            if session_id is not None and session_id not in keep:  # the pause container has none
                await self.remove(container, 0)
                reaped.append(session_id)
        return reaped

    async def aclose(self) -> None:
        with contextlib.suppress(SandboxError):
            await self._remove_pause()
        if self._client is not None:
            self._client.close()
        self._threads.shutdown(wait=False)

    # -- containers ------------------------------------------------------------------------

    async def remove(self, container: Any, grace: int) -> None:
        """Stop (TERM, then KILL after ``grace`` s) and remove; gone already is fine."""

        def remove(_: Any) -> None:
            try:
                if grace:
                    container.stop(timeout=grace)
                container.remove(force=True, v=True)
            except NotFound:
                pass

        await self._docker(remove)

    async def _attach(
        self,
        container: Any,
        folders: c.SessionFolders,
        token: str,
        log: LogSink,
        since: int | None = None,
    ) -> DockerSandbox:
        door = UnixSocketForwarder(folders.socket, self.ports)
        await door.open()
        output = c.OutputStream(container, since)
        return DockerSandbox(self, container, door, token, output, log)

    async def _containers(self, *labels: str) -> list[Any]:
        filters = {"label": [f"{c.SCOPE}={self.scope}", *labels]}
        found: list[Any] = await self._docker(
            lambda d: d.containers.list(all=True, filters=filters)
        )
        return found

    async def _install(self, run: InstallRun, log: LogSink) -> None:
        """The project's manager in a container of its own, as hardened as a dev server's
        but on the egress bridge (the registry), in the stage mounted where the project is
        (``/session/workspace``: the links the manager makes hold in the dev server's
        container too), with the shared package cache."""
        settings = self.settings
        c.writable_stage(run.stage)
        tools = Toolbox(
            npm=("node", str(c.NPM_CLI)),  # no shell in the image: not the npm script
            node="node",
            managers=c.in_image(settings, settings.sandbox_images_dir / "managers"),
            cache=c.NPM_CACHE,
        )
        argv, env = install_command(run.manager, tools, configured_registry(), run.extra)
        hardening = c.hardening(settings)
        hardening["environment"] |= {**npm_registry_env(), **env}
        # No project code runs here (scripts off): the machine's CPUs unless capped.
        cpus = settings.docker_install_cpus or float(os.cpu_count() or 1)
        hardening["nano_cpus"] = int(cpus * 1e9)
        network = await self._install_network()
        session_id = run.stage.parent.name
        container = await self._run(
            lambda d: d.containers.run(
                settings.docker_image,
                argv[1:],
                entrypoint=[argv[0]],
                name=f"kontext-install-{session_id[:16]}-{secrets.token_hex(3)}",
                labels=self._labels(session_id, c.INSTALL_SHAPE),
                mounts=c.install_mounts(run.stage, settings),
                working_dir=str(c.WORKSPACE / run.cwd.relative_to(run.stage).as_posix()),
                **network,
                **hardening,
            )
        )
        output = c.OutputStream(container)
        try:
            await follow_install(
                settings,
                run.manager,
                text_lines(output.reader),
                lambda: asyncio.shield(output.exit_code),
                log,
            )
        finally:
            await self.remove(container, 0)

    def _start_cpus(self) -> float:
        """The CPUs a dev server starts with, for docker_start_seconds (0: no burst: its
        cap from the start)."""
        settings = self.settings
        cpus = settings.docker_start_cpus or float(os.cpu_count() or 1)
        return cpus if settings.docker_start_seconds > 0 and cpus > settings.docker_cpus else 0

    def _labels(self, session_id: str, shape: str) -> dict[str, str]:
        return {c.LABEL: "1", c.SCOPE: self.scope, c.SESSION: session_id, c.SHAPE: shape}

    async def _network(self) -> dict[str, Any]:
        """No network at all, unless egress is on."""
        if self.settings.docker_egress:
            return {"network": await self._egress_network()}
        return {"network_mode": "none"}

    async def _install_network(self) -> dict[str, Any]:
        """An install container joins the network namespace of this scope's pause container
        (Kubernetes' term: a container that only holds a namespace), on the egress bridge:
        joining one is ~150 ms quicker than having a bridge endpoint made per container
        (Docker 28, 2 cores: 82 ms against 236 ms from run() to started). Installs share it,
        which nothing can use: no project code runs in them (install scripts off)."""
        async with self._pause_lock:
            container = self._pause
            if container is not None:
                with contextlib.suppress(SandboxError):
                    await self._docker(lambda _: container.reload())
                if container.status != "running":
                    container = None
            if container is None:
                container = await self._pause_container(await self._egress_network())
            self._pause = container
        return {"network_mode": f"container:{container.id}"}

    async def _pause_container(self, network: str) -> Any:
        """This scope's pause container, running; made if there is none (another process of
        the scope may make it at the same moment: then that one)."""
        name = f"kontext-pause-{self.scope}"
        hardening = c.hardening(self.settings)
        memory = f"{PAUSE_MEMORY_MB}m"
        hardening |= {"mem_limit": memory, "memswap_limit": memory, "nano_cpus": int(0.1e9)}

        def ensure(d: Any) -> Any:
            for _ in range(3):
                with contextlib.suppress(NotFound):
                    found = d.containers.get(name)
                    if found.status == "running":
                        return found
                    found.remove(force=True)
                try:
                    return d.containers.run(
                        self.settings.docker_image,
                        ["-e", "setInterval(() => {}, 2 ** 30)"],
                        entrypoint=["node"],
                        name=name,
                        labels={c.LABEL: "1", c.SCOPE: self.scope, c.SHAPE: PAUSE_SHAPE},
                        network=network,
                        **hardening,
                    )
                except APIError as exc:
                    if exc.status_code != 409:  # 409: made meanwhile, by another process
                        raise
            raise SandboxError(f"the pause container {name} keeps being removed")

        return await self._docker(ensure)

    async def _remove_pause(self) -> None:
        """The pause container, unless an install of the scope (another process's) uses it."""
        if self._pause is None:
            return
        installs = await self._containers(f"{c.SHAPE}={c.INSTALL_SHAPE}")
        if not [each for each in installs if each.status == "running"]:
            await self.remove(self._pause, 0)
        self._pause = None

    async def _egress_network(self) -> str:
        """The bridge for npm installs and egress, made on first use: its containers reach
        out (the registry) but not each other."""
        name = self.settings.docker_egress_network
        if not self._network_ready:

            def ensure(d: Any) -> None:
                if not d.networks.list(names=[name]):
                    d.networks.create(name, driver="bridge", options={ICC: "false"})

            await self._docker(ensure)
            self._network_ready = True
        return name

    def _agent_config(self, spec: SandboxSpec, token: str) -> DevServerConfig:
        return agent_config(
            spec,
            token,
            root=str(c.in_container(spec, spec.vite_root)),
            workspace=str(c.WORKSPACE),
            templateDir=str(c.TEMPLATE),
            templateDirs=[str(c.in_image(self.settings, d)) for d in self.settings.template_dirs],
            cacheDir=str(c.VITE_CACHE),
            tempDir=str(c.TEMP_DIR),
            prebuiltCacheDir=str(c.PREBUILT_CACHE),
            socket=str(c.SOCKET),
            controlSocket=str(c.RUN_DIR / CONTROL_SOCKET),
            exitOnStdinEnd=False,
        )

    async def _run(self, run: Callable[[Any], Any]) -> Any:
        """Create and start a container. If the caller is cancelled meanwhile (the session
        was deleted), the container is still made on the engine's side: remove it."""
        made = asyncio.ensure_future(self._docker(run))
        try:
            return await asyncio.shield(made)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await self.remove(await made, 0)
            raise

    async def _docker(self, call: Callable[[Any], T]) -> T:
        """Run a blocking docker SDK call on the backend's threads; Docker's errors become
        SandboxError with what to do about them."""

        def run() -> T:
            if self._client is None:
                self._client = self._client_factory()
            return call(self._client)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._threads, run)
        except ImageNotFound:
            raise SandboxError(
                f"the sandbox image {self.settings.docker_image} is not on this Docker engine; "
                "build it with `make sandbox-image` (or set KONTEXT_DOCKER_IMAGE)"
            ) from None
        except DockerException as exc:
            raise SandboxError(f"the Docker engine refused: {_docker_reason(exc)}") from None


def _docker_reason(exc: DockerException) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)[:500]


def _reachable(bind_host: str) -> str:
    return "127.0.0.1" if bind_host in ("0.0.0.0", "") else bind_host
