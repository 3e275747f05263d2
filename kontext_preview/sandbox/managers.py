"""The package manager a project was made with, and how each one installs it here.

A project's lockfile says which manager wrote it, and that manager installs it, by its own
rules (which versions a lockfile pins, what it does when package.json asks for more, how it
lays out node_modules): npm for ``package-lock.json``, Yarn for ``yarn.lock`` (1.x, or Berry
for a lockfile Yarn 2+ wrote), pnpm for ``pnpm-lock.yaml``, bun for ``bun.lock(b)``. Which one
is package-manager-detector's answer (``sandbox-images/managers/detect.mjs``: the lockfile,
else package.json's ``packageManager`` or ``devEngines`` field); no lockfile and no field:
npm. The managers other than the node's npm are pinned in ``sandbox-images/managers``
(pnpm 10.34.9: pnpm 11 needs Node 22; Yarn 1.22.22 and 4.18.1; bun 1.4.5), on this machine
and at ``/opt/kontext/managers`` in the sandbox image.

Every manager runs with install scripts off, project hooks off (``.pnpmfile.cjs``, Yarn's
``yarnPath``), a cache shared by all sessions, and the configured registry: a lockfile's
tarball URL on another registry (an AI builder's own mirror, such as Lovable's) is fetched
from the configured one by the same name and version, and checked against the same
integrity (npm's ``replace-registry-host``; the other lockfiles' URLs are rewritten in the
install's copy).
"""

import asyncio
import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import unquote, urlsplit

from kontext_preview.config import Settings
from kontext_preview.errors import SandboxError

DEFAULT_REGISTRY = "https://registry.npmjs.org/"
# Each manager's lockfiles (package-manager-detector's table, in its order).
LOCKFILES = {
    "bun": ("bun.lock", "bun.lockb"),
    "pnpm": ("pnpm-lock.yaml",),
    "yarn": ("yarn.lock",),
    "npm": ("npm-shrinkwrap.json", "package-lock.json"),
}
ALL_LOCKFILES = tuple(name for names in LOCKFILES.values() for name in names)
SUPPORTED = ("npm", "yarn", "pnpm", "bun")
# Where each manager's cache is, under the shared package cache (npm's own is its root).
CACHES = {"pnpm": "_pnpm-store", "yarn": "_yarn", "yarn@berry": "_yarn-berry", "bun": "_bun"}
NPM_ARGS = (
    "install",
    "--ignore-scripts",
    "--no-audit",
    "--no-fund",
    "--no-update-notifier",
    "--loglevel=http",
    "--prefer-offline",  # what the cache has is used without asking the registry again
    # A lockfile's tarballs on another registry are fetched from the configured one.
    "--replace-registry-host=always",
)
# A registry tarball URL: <registry>/<name>/-/<file>.tgz (<name> may be scoped).
_TARBALL = re.compile(r"https?://[^\s\"'#]+/-/[^\s\"'#/]+\.tgz")


@dataclass(frozen=True)
class PackageManager:
    """A project's package manager, as detected."""

    name: str  # npm, yarn, pnpm or bun
    agent: str  # package-manager-detector's agent: "yarn@berry" for Yarn 2+, else the name
    lockfile: str | None  # its lockfile at the install root, if there is one

    @property
    def label(self) -> str:
        return "Yarn Berry" if self.agent == "yarn@berry" else self.name

    @property
    def seeds_from_template(self) -> bool:
        """It installs over an npm-laid tree, keeping what matches (npm, bun); pnpm and
        Yarn lay out node_modules their own way and start from an empty folder."""
        return self.name in ("npm", "bun")


@dataclass(frozen=True)
class Toolbox:
    """Where an install finds its tools, as the place it runs in sees them."""

    npm: tuple[str, ...]  # the command that runs npm
    node: str  # the Node binary
    managers: PurePath  # sandbox-images/managers
    cache: PurePath  # the shared package cache: npm's, with the others' in sub-folders


async def detect(settings: Settings, root: Path, project: Path) -> PackageManager:
    """The manager of the project whose install root is ``root`` (looked for from there up
    to ``project``, the project's root). Raises SandboxError for a manager this node does
    not run (deno, say), or if the check itself failed."""
    process = await asyncio.create_subprocess_exec(
        settings.node_binary,
        str(settings.sandbox_images_dir / "managers" / "detect.mjs"),
        json.dumps({"cwd": str(root), "stop": str(project)}),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise SandboxError(f"could not tell the project's package manager: {err.decode()[-300:]}")
    found: dict[str, Any] | None = json.loads(out or b"null")
    name = str(found["name"]) if found else "npm"
    if name not in SUPPORTED:
        raise SandboxError(
            f"the project's package manager is {name}; previews install with npm, Yarn, pnpm "
            "or bun: send the project with one of their lockfiles"
        )
    agent = str(found["agent"]) if found else "npm"
    lockfile = next((n for n in LOCKFILES[name] if (root / n).is_file()), None)
    return PackageManager(name, agent, lockfile)


def install_command(
    manager: PackageManager, tools: Toolbox, registry: str, extra: tuple[str, ...] = ()
) -> tuple[list[str], dict[str, str]]:
    """The command line and the environment (added to the installer's own) that install a
    project with ``manager``: scripts off, hooks off, the shared cache, ``registry``."""
    cache = tools.cache / CACHES.get(manager.agent, CACHES.get(manager.name, ""))
    env = {"npm_config_registry": registry, "npm_config_ignore_scripts": "true"}
    bin_of = tools.managers / "node_modules"
    if manager.name == "npm":
        return [*tools.npm, *NPM_ARGS, *extra, f"--cache={tools.cache}"], env
    if manager.name == "pnpm":
        argv = [
            tools.node,
            str(bin_of / "pnpm" / "bin" / "pnpm.cjs"),
            "install",
            "--ignore-scripts",
            "--ignore-pnpmfile",  # a project's .pnpmfile.cjs would run here
            "--no-frozen-lockfile",  # as on a developer's machine, also where CI=true
            "--prefer-offline",
            "--reporter=append-only",
            f"--store-dir={cache}",
            "--config.confirm-modules-purge=false",
            "--config.manage-package-manager-versions=false",  # no other pnpm downloaded
            *extra,
        ]
        return argv, env
    if manager.agent == "yarn@berry":
        argv = [tools.node, str(bin_of / "@yarnpkg" / "cli-dist" / "bin" / "yarn.js"), "install"]
        berry = {
            "YARN_IGNORE_PATH": "1",  # not the project's own yarnPath release
            "YARN_NODE_LINKER": "node-modules",  # Vite reads node_modules, not Plug'n'Play
            "YARN_ENABLE_SCRIPTS": "0",
            "YARN_ENABLE_GLOBAL_CACHE": "0",
            "YARN_CACHE_FOLDER": str(cache),
            "YARN_ENABLE_IMMUTABLE_INSTALLS": "0",
            "YARN_ENABLE_TELEMETRY": "0",
            "YARN_ENABLE_PROGRESS_BARS": "0",
            "YARN_NPM_REGISTRY_SERVER": registry.rstrip("/"),
        }
        return [*argv, "--mode=skip-build", *extra], env | berry
    if manager.name == "yarn":
        argv = [
            tools.node,
            str(bin_of / "yarn" / "bin" / "yarn.js"),
            "install",
            "--ignore-scripts",
            "--non-interactive",
            "--no-progress",
            "--ignore-engines",  # npm warns about an engines mismatch; Yarn 1 would refuse
            "--prefer-offline",
            f"--cache-folder={cache}",
            f"--registry={registry}",
            *extra,
        ]
        return argv, env | {"YARN_IGNORE_PATH": "1"}
    argv = [
        str(bin_of / "@oven" / "bun-linux-x64" / "bin" / "bun"),
        "install",
        "--ignore-scripts",
        "--no-progress",
        f"--cache-dir={cache}",
        f"--registry={registry}",
        *extra,
    ]
    return argv, env | {"DO_NOT_TRACK": "1", "BUN_INSTALL_CACHE_DIR": str(cache)}


def fetch_from(lockfile_text: str, registry: str) -> tuple[str, int]:
    """``lockfile_text`` with every registry tarball URL on another host pointed at
    ``registry`` (same package name and file: the lockfile's integrity still checks it), and
    how many were."""
    base = registry.rstrip("/")
    host = urlsplit(base).netloc
    moved = 0

    def move(match: re.Match[str]) -> str:
        nonlocal moved
        url = urlsplit(match.group(0))
        if url.netloc == host:
            return match.group(0)
        before, file = url.path.rsplit("/-/", 1)
        parts = unquote(before).split("/")
        name = "/".join(parts[-2:]) if len(parts) > 1 and parts[-2].startswith("@") else parts[-1]
        moved += 1
        return f"{base}/{name}/-/{file}"

    return _TARBALL.sub(move, lockfile_text), moved
