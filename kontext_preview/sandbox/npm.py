"""Dependencies without waiting: reuse the prepared template, install only when it falls short.

If the template's node_modules satisfies the project's package.json (checked
with npm's own semver by ``sandbox-images/agent/deps.mjs``), the project gets a
symlink to it and starts with no install at all. Otherwise npm installs with
``--ignore-scripts`` (AI-chosen packages never run install scripts) and a cache
shared by all sessions; each line npm prints is passed to the session's log as
progress. Where npm runs is the backend's business (an :data:`Installer`): a
local process here, a container for the Docker backend. An install is done once
per package.json: a later start with the same one reuses it.
"""

import asyncio
import contextlib
import fnmatch
import json
import os
import re
import shutil
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path, PurePath
from typing import Any

from kontext_preview.config import Settings
from kontext_preview.errors import DependencyInstallFailed, SandboxError
from kontext_preview.sandbox.base import LogSink, SandboxSpec
from kontext_preview.sandbox.process import terminate_group, text_lines

# npm 10 says "is not in this registry", npm 11 "could not be found or you do not have permission".
_NOT_IN_REGISTRY = re.compile(r"'([^']+)' (?:is not in this registry|could not be found)")
_NPM_ERROR = re.compile(r"^npm (?:error|ERR!) ")
NPM_INSTALL = [
    "install",
    "--ignore-scripts",
    "--no-audit",
    "--no-fund",
    "--no-update-notifier",
    "--loglevel=http",
]
INSTALLED_STAMP = ".kontext-package.json"  # in node_modules: the package.json it was made for
CHECKS_KEPT = 256
_CHECKED: OrderedDict[str, list[str]] = OrderedDict()  # template check answers, by package.json

# Installs the project's dependencies (into the node_modules folder it was made for).
Installer = Callable[[SandboxSpec, LogSink], Awaitable[None]]


async def prepare_dependencies(
    settings: Settings,
    spec: SandboxSpec,
    log: LogSink,
    *,
    template_modules: PurePath | None = None,
    install: Installer | None = None,
    installed_modules: Path | None = None,
) -> None:
    """Link ``node_modules`` to ``template_modules`` (as the sandbox sees it) if the
    template is enough, else ``install`` into ``installed_modules`` (default: npm here,
    into the project's node_modules)."""
    node_modules = spec.package_dir / "node_modules"
    template_modules = template_modules or settings.template_dir / "node_modules"
    unsatisfied = await template_lacks(settings, spec.package_json)
    if not unsatisfied:
        if node_modules.is_symlink() and os.readlink(node_modules) == str(template_modules):
            return
        _remove(node_modules)
        node_modules.symlink_to(template_modules, target_is_directory=True)
        log("dependencies: all provided by the prepared template, nothing to install")
        return
    if node_modules.is_symlink():
        node_modules.unlink()
    install = install or (lambda spec, log: npm_install_here(settings, spec, log))
    root = workspaces_root(spec)
    workspaces = _package_json(root) if root != spec.package_dir else None
    stamp = json.dumps([spec.package_json, workspaces], sort_keys=True)
    installed = installed_modules or root / "node_modules"
    if root != spec.package_dir:
        where = root.relative_to(spec.workspace).as_posix() or "the project root"
        log(f"dependencies: {where} declares npm workspaces; npm installs them there")
    if _is_folder(installed) and _read(installed / INSTALLED_STAMP) == stamp:
        log("dependencies: installed before for this package.json")
        return
    log(f"dependencies: installing {', '.join(unsatisfied)} with npm (install scripts disabled)")
    await install(spec, log)
    if not _is_folder(installed):
        raise DependencyInstallFailed("npm install finished but made no node_modules folder")
    (installed / INSTALLED_STAMP).write_text(stamp)
    log("dependencies: installed")


def workspaces_root(spec: SandboxSpec) -> Path:
    """Where npm installs the app's dependencies: the nearest folder above its package.json
    (within the project) whose package.json lists it among its npm ``workspaces`` (npm then
    hoists everything into that folder's node_modules and links the workspace packages),
    else the app's own folder. Patterns are npm's: folder globs relative to that root."""
    folder = spec.package_dir
    while folder != spec.workspace and spec.workspace in folder.parents:
        folder = folder.parent
        patterns = _workspace_patterns(_package_json(folder))
        relative = spec.package_dir.relative_to(folder).as_posix()
        if any(fnmatch.fnmatch(relative, p.rstrip("/").removeprefix("./")) for p in patterns):
            return folder
    return spec.package_dir


def _workspace_patterns(package: dict[str, Any]) -> list[str]:
    declared = package.get("workspaces")
    if isinstance(declared, dict):  # {"packages": [...]}, as Yarn writes it
        declared = declared.get("packages")
    return [p for p in declared if isinstance(p, str)] if isinstance(declared, list) else []


def _package_json(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / "package.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _is_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


async def template_lacks(settings: Settings, package_json: dict[str, Any]) -> list[str]:
    """The dependencies (``name@range``) the prepared template does not satisfy. Answers
    are kept per package.json: most projects send the same one, and each check is a
    Node process."""
    key = json.dumps([str(settings.template_dir), package_json, settings.ignored_dev_dependencies])
    if (known := _CHECKED.get(key)) is not None:
        _CHECKED.move_to_end(key)
        return known
    request = {
        "packageJson": package_json,
        "templateDir": str(settings.template_dir),
        "ignore": settings.ignored_dev_dependencies,
    }
    process = await asyncio.create_subprocess_exec(
        settings.node_binary,
        str(settings.agent_dir / "deps.mjs"),
        json.dumps(request),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise SandboxError(f"could not check the project's dependencies: {err.decode()[-500:]}")
    lacking = [f"{d['name']}@{d['wanted']}" for d in json.loads(out)["unsatisfied"]]
    _CHECKED[key] = lacking
    while len(_CHECKED) > CHECKS_KEPT:
        _CHECKED.popitem(last=False)
    return lacking


async def npm_install_here(settings: Settings, spec: SandboxSpec, log: LogSink) -> None:
    """npm on this machine, into the project's own node_modules."""
    cache = settings.data_dir / "npm-cache"
    cache.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        settings.npm_binary,
        *NPM_INSTALL,
        f"--cache={cache}",
        cwd=spec.package_dir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**_npm_env(), "npm_config_ignore_scripts": "true"},
        start_new_session=True,
    )
    assert process.stdout
    try:
        await follow_install(settings, text_lines(process.stdout), process.wait, log)
    finally:
        await terminate_group(process, 2.0)


async def follow_install(
    settings: Settings,
    lines: AsyncIterator[str],
    exit_code: Callable[[], Awaitable[int]],
    log: LogSink,
) -> None:
    """Log npm's output as progress; raise DependencyInstallFailed, with npm's own reason,
    if it fails or takes longer than the install timeout."""
    recent: deque[str] = deque(maxlen=40)
    try:
        async with asyncio.timeout(settings.install_timeout_seconds):
            async for line in lines:
                recent.append(line)
                log(f"npm: {line}")
            code = await exit_code()
    except TimeoutError:
        raise DependencyInstallFailed(
            f"npm install took longer than {settings.install_timeout_seconds:g} s and was stopped"
        ) from None
    if code != 0:
        raise DependencyInstallFailed(_describe_npm_failure(recent))


def _describe_npm_failure(lines: deque[str]) -> str:
    text = "\n".join(lines)
    if missing := _NOT_IN_REGISTRY.search(text):
        return f"npm install failed: package {missing.group(1)} does not exist in the npm registry"
    errors = [_NPM_ERROR.sub("", line) for line in lines if _NPM_ERROR.match(line)]
    useful = [e for e in errors if e and "complete log of this run" not in e][:4]
    return "npm install failed: " + (" | ".join(useful) or "npm exited with an error")


def npm_registry_env() -> dict[str, str]:
    """The registry this machine's npm is pointed at, if any, for npm elsewhere too."""
    keep = ("npm_config_registry", "NPM_CONFIG_REGISTRY")
    return {k: v for k, v in os.environ.items() if k in keep}


def _npm_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    return {**{k: v for k, v in os.environ.items() if k in keep}, **npm_registry_env()}


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _remove(path: os.PathLike[str]) -> None:
    if os.path.islink(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
