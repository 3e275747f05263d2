"""The sandbox contract: "run this project's Vite dev server somewhere and tell me where".

Modelled on jupyter_client's provisioners and JupyterHub's Spawner. A
:class:`SandboxBackend` prepares dependencies and starts sandboxes; a running
:class:`Sandbox` can be waited for, notified of changed files and stopped.
Files reach a sandbox
through its workspace directory, which the session's virtual file system keeps
in sync; the backend makes that folder visible to the dev server (a plain path
locally, a read-only mount in a container).

Sandboxes that can outlive the process that started them (containers) are
re-adopted by a later one: ``adopt`` finds the session's running sandbox, and
``reap`` removes those no session claims. ``detach`` lets go of a sandbox
without stopping it, where it can live on (a worker's graceful restart).

A backend also runs one-off Node steps on a project's code where it runs its dev
servers (``run_tool``: a deployment's production build and checks), so a
project's ``vite.config`` is as contained in a build as in a preview.
"""

import posixpath
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kontext_preview.sandbox.protocol import PageEvent
from kontext_preview.workspace.layout import DevServerName
from kontext_preview.workspace.vfs import FileChange

LogSink = Callable[[str], None]
EventSink = Callable[[PageEvent], None]  # what the agent reports: browser acks, page errors


@dataclass(frozen=True)
class SandboxSpec:
    session_id: str
    workspace: Path  # the project's files, kept in sync by the virtual file system
    vite_root: Path  # folder of index.html, inside workspace
    package_dir: Path  # folder of the package.json the app uses; node_modules goes here
    cache_dir: Path  # Vite's dependency cache, one per session
    run_dir: Path  # the agent's sockets: its control channel (and a container's dev server)
    package_json: dict[str, Any]
    public_host: str  # the host name browsers use, e.g. preview-<id>.localhost
    ws_client_port: int | None  # port browsers use for the HMR socket (the proxy's)
    ws_path: str
    ws_protocol: str  # "ws" or "wss"
    add_react_plugin: bool  # React project without a vite.config: add @vitejs/plugin-react
    dev_server: DevServerName = "vite"  # the agent's dev-server adapter
    generated_dirs: tuple[str, ...] = ()  # folders the framework writes (relative to workspace)
    # The Node binary to run it with (kontext_preview.sandbox.node_runtime); None: the
    # machine's (the image's in a container)
    node: Path | None = None
    warm_urls: tuple[str, ...] = ()  # modules a page has (a wake's snapshot): transform at start
    # The update that (re)starts this dev server, as the pages acknowledge it (negative: the
    # service's numbering): a page loaded again for the start acknowledges it to the agent.
    launch_seq: int | None = None


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


@dataclass(frozen=True)
class NotifyResult:
    """What a notification or an injection reached."""

    affected: list[str]  # changed files the dev server had loaded (or HTML pages)
    injected: list[str] = field(default_factory=list)  # stylesheets pushed into the pages
    seq: int | None = None  # the agent's number for this change; browsers acknowledge it
    clients: int = 0  # browsers connected when it was sent

    @property
    def reached(self) -> bool:
        return bool(self.affected or self.injected)


@dataclass(frozen=True)
class ToolPaths:
    """Where a step run by :meth:`SandboxBackend.run_tool` finds things: this machine's
    paths for the local backend, the image's for a container."""

    workspace: str  # the spec's workspace (read-only to the step where the backend can)
    out: str  # the one folder the step writes its results to
    scratch: str  # caches and temporary files
    agent: str  # agent.mjs
    template: str  # the prepared Vite template
    deployer: str  # the deployer's tools (sandbox-images/deployer)

    def of(self, spec: "SandboxSpec", host_path: Path) -> str:
        """A path inside the spec's workspace, as the step sees it."""
        inside = host_path.relative_to(spec.workspace).as_posix()
        return posixpath.normpath(posixpath.join(self.workspace, inside))


@dataclass(frozen=True)
class Prepared:
    """What preparing a project's dependencies worked around, for the session's status:
    each a sentence (a peer-dependency conflict npm refused, installed as pnpm and bun
    would: kontext_preview.sandbox.dependencies)."""

    warnings: tuple[str, ...] = ()


class Sandbox(ABC):
    """One running dev server."""

    endpoint: Endpoint

    @abstractmethod
    async def wait(self) -> int:
        """Return the exit code once the dev server has exited."""

    @abstractmethod
    async def notify(self, changes: Sequence[FileChange], *, fresh: bool = False) -> NotifyResult:
        """Tell the dev server which files changed; say which of them it had loaded
        (``fresh``: a whole new project no page has seen, so no page needs reloading)."""

    @abstractmethod
    async def inject_css(self, paths: Sequence[str]) -> NotifyResult:
        """Push recompiled stylesheets straight into the pages; notify the rest as changes."""

    @abstractmethod
    async def announce_restart(self, seq: int) -> NotifyResult:
        """Tell the pages that change ``seq`` (negative: the server's numbering, not the
        agent's) comes as a dev-server restart: each reloads when the next dev server
        answers and acknowledges ``seq`` as ``reload`` to it. Says how many pages heard it."""

    async def page_requests(self) -> list[dict[str, Any]]:
        """The requests the dev server's pages made, the most recent last: ``url``,
        ``accept``, ``dest`` (Sec-Fetch-Dest), ``navigation`` (see snapshots.py)."""
        return []

    @abstractmethod
    async def stop(self, now: bool = False) -> None:
        """Stop gracefully (or at once), escalating to a kill; idempotent."""

    async def detach(self) -> bool:
        """Let go of the sandbox, leaving it running for a later process to adopt if it
        can outlive this one (return True), else stop it (False)."""
        await self.stop()
        return False


class SandboxBackend(ABC):
    name: str

    @abstractmethod
    async def prepare(self, spec: SandboxSpec, log: LogSink) -> Prepared:
        """Make the project's dependencies available, installing what the template lacks;
        answer what had to be worked around."""

    @abstractmethod
    async def start(
        self, spec: SandboxSpec, log: LogSink, report: EventSink | None = None
    ) -> Sandbox:
        """Start the dev server and return once it serves (raise SandboxError if it cannot).
        ``report`` receives what the agent reports later (browser acks, page errors)."""

    @abstractmethod
    def tool_paths(self, spec: SandboxSpec, out: Path) -> ToolPaths:
        """Where a ``run_tool`` step for ``spec`` that writes to ``out`` finds things."""

    @abstractmethod
    async def run_tool(
        self, spec: SandboxSpec, out: Path, args: Sequence[str], cwd: Path, on_line: LogSink
    ) -> int:
        """Run ``node <args>`` on the project's code to its end, as contained as a dev
        server (``out``, a folder that exists, the one it may write to; ``prepare`` done
        before), its
        output line by line to ``on_line``; return its exit code. Cancelled, it stops."""

    def installed_packages(self, spec: SandboxSpec) -> Path:
        """The node_modules folder the project's packages are in, as ``prepare`` left it."""
        return spec.package_dir / "node_modules"

    async def adopt(
        self, spec: SandboxSpec, log: LogSink, report: EventSink | None = None
    ) -> Sandbox | None:
        """The session's sandbox left running by an earlier process, taken over (None if
        there is none that serves; one that does not is removed)."""
        return None

    async def reap(self, keep: Collection[str]) -> list[str]:
        """Remove the sandboxes earlier processes left behind for sessions not in ``keep``;
        return their session ids."""
        return []

    async def aclose(self) -> None:
        """Release what the backend itself holds (clients, pools)."""
        return None
