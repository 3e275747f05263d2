"""What a Docker sandbox's containers are: paths, labels, hardening, and reading their output.

Every container runs the image from ``sandbox-images/`` with the same absolute
paths (so Vite's dependency cache built into the image is reused), as a
non-root user, with a read-only root file system and a small tmpfs, no
capabilities, ``no-new-privileges``, memory, CPU and process limits, and no
host path but its own session's folders. The dev server's container has no
network (unless egress is enabled); npm install containers reach the registry.
"""

import asyncio
import contextlib
import hashlib
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from docker.types import LogConfig, Mount

from kontext_preview.config import Settings
from kontext_preview.sandbox.base import SandboxSpec

# Inside every container.
WORKSPACE = PurePosixPath("/session/workspace")
RUN_DIR = PurePosixPath("/run/kontext")
OUT_DIR = PurePosixPath("/session/out")  # a one-off step's results (run_tool)
SOCKET = RUN_DIR / "vite.sock"
# Vite's dependency cache (cacheDir) in the session's run folder on this machine's disk,
# not the container's tmpfs: it outlives the container, so a session woken from
# hibernation finds its pre-bundled dependencies as they were ("Hash is consistent") and
# the page snapshot's `?v=` URLs still hold, and it is no memory of the container's.
VITE_CACHE = RUN_DIR / "vite-cache"
NPM_CACHE = PurePosixPath("/npm-cache")
TEMP_DIR = PurePosixPath("/tmp/kontext")
# Native addons that unpack themselves before loading (SWC's, since @swc/core 1.16: a
# compressed payload materialized into SWC_NATIVE_BINDING_CACHE and dlopen'ed from there)
# need a writable folder that allows execution; /tmp does not (Docker mounts it noexec).
# This small tmpfs is the one such place; nothing else in the container is both.
NATIVE_CACHE = PurePosixPath("/tmp-native")
IMAGE_TOOLS = PurePosixPath("/opt/kontext")  # sandbox-images/ of this machine, in the image
TEMPLATE = IMAGE_TOOLS / "template"
PREBUILT_CACHE = PurePosixPath("/opt/kontext/vite-cache")
AGENT = PurePosixPath("/opt/kontext/agent/agent.mjs")
DEPLOYER = PurePosixPath("/opt/kontext/deployer")
NPM_CLI = PurePosixPath("/usr/local/lib/node_modules/npm/bin/npm-cli.js")  # both bases
NODE_RUNTIME = PurePosixPath("/opt/kontext-node")  # a Node release the project needs (mounted)
CONTAINER_UID = 10001  # the image's user, when this process is root

LABEL = "kontext.preview"
SCOPE, SESSION, SHAPE = (f"{LABEL}.{k}" for k in ("scope", "session", "shape"))
INSTALL_SHAPE = "install"
# The CFS period Docker uses (µs); a quota of n periods is n CPUs (`docker run --cpus`).
CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class SessionFolders:
    """A session's folders on this machine, as the containers mount them."""

    root: Path  # <data_dir>/sessions/<id>

    @classmethod
    def of(cls, spec: SandboxSpec) -> "SessionFolders":
        return cls(spec.run_dir.parent)

    @property
    def run(self) -> Path:
        return self.root / "run"  # spec.run_dir

    @property
    def socket(self) -> Path:
        return self.run / SOCKET.name

    @property
    def deps(self) -> Path:
        return self.root / "deps"


def sandbox_user() -> tuple[int, int]:
    """Containers run as this process's user, so that it can remove what they write; as
    the image's unprivileged user when this process is root."""
    uid = os.getuid()
    return (uid, os.getgid()) if uid else (CONTAINER_UID, CONTAINER_UID)


def writable_folder(path: Path) -> None:
    """A folder of this machine that the container's user may write in."""
    path.mkdir(parents=True, exist_ok=True)
    if os.getuid() == 0:
        os.chown(path, CONTAINER_UID, CONTAINER_UID)


def in_image(settings: Settings, host_path: Path) -> PurePosixPath:
    """Where a path under this machine's ``sandbox-images/`` is in the sandbox image."""
    return IMAGE_TOOLS / host_path.relative_to(settings.sandbox_images_dir).as_posix()


def scope_of(settings: Settings) -> str:
    """Containers of this node and data folder (other services on the engine have others)."""
    where = f"{settings.node_name}\0{settings.data_dir.resolve()}"
    return hashlib.sha256(where.encode()).hexdigest()[:16]


def cpu_quota(cpus: float) -> dict[str, int]:
    """The docker SDK's run()/update() arguments for a cap of ``cpus`` CPUs, in the form
    ``container.update`` can change later (NanoCpus cannot be updated through the SDK)."""
    return {"cpu_period": CPU_PERIOD_US, "cpu_quota": max(1000, int(cpus * CPU_PERIOD_US))}


def in_container(spec: SandboxSpec, host_path: Path) -> PurePosixPath:
    return WORKSPACE / host_path.relative_to(spec.workspace).as_posix()


def shape_of(spec: SandboxSpec, settings: Settings, deps: bool) -> str:
    """What a running container was made for: adopting one for another shape is wrong."""
    parts = [
        settings.docker_image,
        str(in_container(spec, spec.vite_root)),
        str(in_container(spec, spec.package_dir)),
        spec.public_host,
        f"{spec.ws_protocol}:{spec.ws_client_port}{spec.ws_path}",
        str(spec.add_react_plugin),
        spec.dev_server,
        str(deps),
        str(settings.docker_egress),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def hardening(settings: Settings) -> dict[str, Any]:
    """The docker SDK's run() arguments every container gets."""
    uid, gid = sandbox_user()
    memory = f"{settings.docker_memory_mb}m"
    return {
        "user": f"{uid}:{gid}",
        "read_only": True,
        "tmpfs": {
            "/tmp": f"rw,nosuid,nodev,size={settings.docker_tmpfs_mb}m,mode=1777",
            str(NATIVE_CACHE): f"rw,exec,nosuid,nodev,size={settings.docker_tmpfs_mb}m,mode=1777",
        },
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "mem_limit": memory,
        "memswap_limit": memory,
        "nano_cpus": int(settings.docker_cpus * 1e9),
        "pids_limit": settings.docker_pids_limit,
        "log_config": LogConfig(
            type="json-file", config={"max-size": settings.docker_log_max_size, "max-file": "1"}
        ),
        "environment": {
            "HOME": str(TEMP_DIR),
            "NODE_ENV": "development",
            "SWC_NATIVE_BINDING_CACHE": str(NATIVE_CACHE),
        },
        "detach": True,
    }


def node_mounts(spec: SandboxSpec) -> list[Mount]:
    """The Node release the project needs (kontext_preview.sandbox.node_runtime), read-only,
    where the image's own Node is not the one."""
    if spec.node is None:
        return []
    return [Mount(str(NODE_RUNTIME), str(spec.node.parent.parent), type="bind", read_only=True)]


def node_in_container(spec: SandboxSpec) -> str:
    """The Node a container runs: the project's (mounted), else the image's."""
    return str(NODE_RUNTIME / "bin" / "node") if spec.node is not None else "node"


def generated_tmpfs(spec: SandboxSpec, settings: Settings) -> dict[str, str]:
    """Where the framework writes as it runs (its generated types, caches: SvelteKit's
    .svelte-kit, Astro's .astro) in the read-only workspace: a tmpfs each, as small as
    /tmp's, made again with each container (the framework writes them at start). Their
    mount points are made in the workspace here (Docker cannot make one in a read-only
    bind mount). Owned by the container's user (Docker 20.10 ignores a tmpfs *mount*'s
    mode: the ``tmpfs`` option's uid= is what makes it writable)."""
    uid, gid = sandbox_user()
    tmpfs = {}
    for folder in spec.generated_dirs:
        (spec.workspace / folder).mkdir(parents=True, exist_ok=True)
        target = str(in_container(spec, spec.workspace / folder))
        size = settings.docker_tmpfs_mb
        tmpfs[target] = f"rw,nosuid,nodev,size={size}m,uid={uid},gid={gid},mode=0755"
    return tmpfs


def dev_server_mounts(spec: SandboxSpec, folders: SessionFolders) -> list[Mount]:
    """The workspace read-only, the socket's folder, and installed dependencies if any."""
    return [*project_mounts(spec, folders), Mount(str(RUN_DIR), str(folders.run), type="bind")]


def tool_mounts(spec: SandboxSpec, folders: SessionFolders, out: Path) -> list[Mount]:
    """A one-off step's: the project as a dev server sees it, and its output folder."""
    return [*project_mounts(spec, folders), Mount(str(OUT_DIR), str(out), type="bind")]


def project_mounts(spec: SandboxSpec, folders: SessionFolders) -> list[Mount]:
    """The workspace read-only, and the installed dependencies (read-only) if any: each
    node_modules folder the install made, where the project has it."""
    mounts = [Mount(str(WORKSPACE), str(spec.workspace), type="bind", read_only=True)]
    if uses_installed_deps(spec, folders):
        for tree in mounted_trees(folders):
            target = in_container(spec, spec.workspace / tree / "node_modules")
            installed = folders.deps / tree / "node_modules"
            mounts.append(Mount(str(target), str(installed), type="bind", read_only=True))
    return mounts


def mounted_trees(folders: SessionFolders) -> list[str]:
    """The project's folders (posix, relative to it) whose node_modules an install made:
    ``deps/<folder>/node_modules`` is mounted at ``<folder>/node_modules``."""
    found = []
    for folder, dirs, _ in os.walk(folders.deps):
        if "node_modules" in dirs and _is_folder(Path(folder) / "node_modules"):
            found.append(Path(folder).relative_to(folders.deps).as_posix())
        dirs[:] = [d for d in dirs if d != "node_modules"]
    return found


def uses_installed_deps(spec: SandboxSpec, folders: SessionFolders) -> bool:
    """Dependencies were installed for the session (not linked to the template's): the
    workspace's node_modules folders are the mount points of deps/."""
    return bool(mounted_trees(folders)) and not (spec.package_dir / "node_modules").is_symlink()


def _is_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def install_mounts(stage: Path, settings: Settings) -> list[Mount]:
    """An install's: the stage (the project's copy, with the session's node_modules folders
    moved in) writable where the project is, and the shared package cache."""
    return [
        Mount(str(WORKSPACE), str(stage), type="bind"),
        Mount(str(NPM_CACHE), settings.docker_npm_cache_volume, type="volume"),
    ]


def writable_stage(stage: Path) -> None:
    """The stage's files and folders ones the container's user may change (the project's
    copies are this process's), its node_modules folders' folders too (their files keep
    their owner: they may be hard links to a template's)."""
    if os.getuid() != 0:
        return
    for folder, _dirs, files in os.walk(stage):
        os.chown(folder, CONTAINER_UID, CONTAINER_UID)
        if "/node_modules/" in folder + "/":
            continue
        for name in files:
            os.chown(os.path.join(folder, name), CONTAINER_UID, CONTAINER_UID)


def point_vite_temp_at_tmpfs(node_modules: Path) -> None:
    """Vite bundles vite.config into node_modules/.vite-temp; a container's node_modules is
    read-only, so that is a link to the tmpfs (as in the image's template)."""
    if _is_folder(node_modules):
        vite_temp = node_modules / ".vite-temp"
        if not vite_temp.is_symlink():
            if vite_temp.is_dir():
                shutil.rmtree(vite_temp)
            vite_temp.symlink_to(TEMP_DIR / "vite-temp")


class OutputStream:
    """A container's output (stdout and stderr, as Docker keeps them) read on a thread of
    its own into an asyncio stream, then its exit code."""

    def __init__(self, container: Any, since: int | None = None):
        self.container = container
        self.reader = asyncio.StreamReader(limit=1 << 20)
        self.exit_code: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.oom_killed = False
        self._stream: Any = None
        self._detached = False
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._run, args=(since,), daemon=True).start()

    def detach(self) -> None:
        """Stop reading; the container goes on."""
        self._detached = True
        if self._stream is not None:
            with contextlib.suppress(Exception):
                self._stream.close()

    def _run(self, since: int | None) -> None:
        try:
            self._stream = self.container.logs(stream=True, follow=True, since=since)
            for chunk in self._stream:
                self._call(self.reader.feed_data, chunk)
        except Exception:
            pass
        self._call(self.reader.feed_eof)
        if self._detached:
            return
        code = -1
        with contextlib.suppress(Exception):
            code = int(self.container.wait(timeout=60).get("StatusCode", -1))
            self.container.reload()
            self.oom_killed = bool(self.container.attrs["State"].get("OOMKilled"))
        self._call(_settle, self.exit_code, code)

    def _call(self, fn: Any, *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            self._loop.call_soon_threadsafe(fn, *args)


def _settle(future: "asyncio.Future[int]", code: int) -> None:
    if not future.done():
        future.set_result(code)
