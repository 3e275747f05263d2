"""Dependencies without waiting: reuse a prepared template, install only what it lacks.

The prepared templates are the Vite template and the stack templates (the dependency
sets AI app builders emit, ``sandbox-images/stacks``). If one satisfies the project's
package.json (checked with npm's own semver by ``sandbox-images/agent/deps.mjs``), the
project gets a symlink to its node_modules and starts with no install at all. Otherwise
the best one's tree is copied in as hard links and npm installs over it with
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
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from kontext_preview.config import Settings
from kontext_preview.errors import DependencyInstallFailed, PeerConflict, SandboxError
from kontext_preview.sandbox.base import LogSink, Prepared, SandboxSpec
from kontext_preview.sandbox.process import terminate_group, text_lines

# npm 10 says "is not in this registry", npm 11 "could not be found or you do not have permission".
_NOT_IN_REGISTRY = re.compile(r"'([^']+)' (?:is not in this registry|could not be found)")
_NPM_ERROR = re.compile(r"^npm (?:error|ERR!) ")
_NPM_CODE = re.compile(r"^npm (?:error|ERR!) code (E[A-Z0-9]+)")
# An ERESOLVE report: what the tree has, and the peer range that does not accept it.
_FOUND = re.compile(r"^npm (?:error|ERR!) Found: (\S+)")
_PEER = re.compile(
    r"^npm (?:error|ERR!) (?:peer|Conflicting peer dependency:) (\S+)(?: from (\S+))?"
)
# Failures the same package.json meets every time (the registry answered): not tried again
# until the dependencies change. A network failure is tried again.
DETERMINISTIC_NPM_CODES = frozenset(
    {
        "ERESOLVE",
        "E404",
        "ETARGET",
        "ENOVERSIONS",
        "EINVALIDTAGNAME",
        "EINVALIDPACKAGENAME",
        "EUNSUPPORTEDPROTOCOL",
        "EJSONPARSE",
    }
)
# npm's own legacy peer resolution (npm 4-6's: peers are not installed, and a conflict is not
# an error): what the AI builders' own tools do with such a project (pnpm and bun warn).
LEGACY_PEERS = "--legacy-peer-deps"
INSTALL_FAILED = "install-failed.json"  # in the session's folder: the last failure
INSTALL_NOTES = ".kontext-install.json"  # in node_modules: what the install worked around
NPM_INSTALL = [
    "install",
    "--ignore-scripts",
    "--no-audit",
    "--no-fund",
    "--no-update-notifier",
    "--loglevel=http",
    "--prefer-offline",  # what the cache has is used without asking the registry again
    # Nothing written into the project (no package.json or package-lock.json change): a
    # package-lock.json the project sends is read and honoured, and none appears if not.
    "--no-save",
]
INSTALLED_STAMP = ".kontext-package.json"  # in node_modules: the package.json it was made for
CHECKS_KEPT = 256
_CHECKED: OrderedDict[str, tuple[list["TemplateFit"], int]] = OrderedDict()  # by package.json

# Installs the project's dependencies (into the node_modules folder it was made for), with
# npm's extra arguments.
Installer = Callable[[SandboxSpec, LogSink, tuple[str, ...]], Awaitable[None]]


async def prepare_dependencies(
    settings: Settings,
    spec: SandboxSpec,
    log: LogSink,
    *,
    in_sandbox: Callable[[Path], PurePath] = lambda path: path,
    install: Installer | None = None,
    installed_modules: Path | None = None,
) -> Prepared:
    """Give the project the node_modules it needs, the cheapest way there is.

    - A prepared template (:attr:`Settings.template_dirs`) satisfies every dependency:
      ``node_modules`` is a symlink to its node_modules (``in_sandbox`` maps a path of
      this machine to where the sandbox sees it).
    - Else, the first time: the best template's node_modules is copied in as hard links
      (:func:`seed_from_template`), then npm installs the project's package.json over it,
      so npm keeps every version the template has that the project's ranges accept and
      fetches only what is missing. Later, for a changed package.json: npm installs over
      the session's own tree the same way, so every other version stays as it was.
    - The same package.json as the last successful install: nothing to do.

    npm runs as ``install`` (default: here, in ``installed_modules``' folder) and its
    answer is logged as what it added, changed and removed (the tree before and after). A
    peer-dependency conflict npm refuses (ERESOLVE: an AI builder's own Vite plugin pinned
    to an older Vite) is installed again with npm's legacy peer resolution, as the
    builders' tools install such projects, and said in the answer's ``warnings``.

    Raises DependencyInstallFailed (npm's own reason) or SandboxError (the check failed). A
    failure the registry's answer decided (:data:`DETERMINISTIC_NPM_CODES`) is remembered
    in the session's folder: the same package.json fails at once, without npm, until the
    dependencies change (for the session's deployments too).
    """
    node_modules = spec.package_dir / "node_modules"
    fit = await best_template(settings, spec.package_json)
    if not fit.lacking:
        target = in_sandbox(fit.dir / "node_modules")
        if node_modules.is_symlink() and os.readlink(node_modules) == str(target):
            return Prepared()
        _remove(node_modules)
        node_modules.symlink_to(target, target_is_directory=True)
        where = fit.name(settings)
        log(f"dependencies: all provided by the prepared template {where}, nothing to install")
        return Prepared()
    if node_modules.is_symlink():
        node_modules.unlink()
    install = install or (lambda spec, log, extra: npm_install_here(settings, spec, log, extra))
    root = workspaces_root(spec)
    workspaces = _package_json(root) if root != spec.package_dir else None
    stamp = json.dumps([spec.package_json, workspaces], sort_keys=True)
    installed = installed_modules or root / "node_modules"
    if root != spec.package_dir:
        where = root.relative_to(spec.workspace).as_posix() or "the project root"
        log(f"dependencies: {where} declares npm workspaces; npm installs them there")
    last = _read(installed / INSTALLED_STAMP) if _is_folder(installed) else None
    if last == stamp:
        log("dependencies: installed before for this package.json")
        return _notes(installed)
    failures = settings.data_dir / "sessions" / spec.session_id / INSTALL_FAILED
    _fail_as_before(failures, stamp)
    if last is None:  # nothing installed yet (or a half-made install): start afresh
        _remove(installed)
        if fit.satisfied:
            await seed_from_template(fit.dir / "node_modules", installed)
            log(
                f"dependencies: starting from a copy of the prepared template "
                f"{fit.name(settings)}, which has {fit.satisfied} of the project's dependencies"
            )
        wanted = ", ".join(fit.lacking)
    else:  # the session's own install, for an earlier package.json: npm updates it
        wanted = _changed_specs(json.loads(last)[0], spec.package_json) or "the same"
    log(f"dependencies: installing {wanted} with npm (install scripts disabled)")
    # npm may nest a workspace's own versions in its folder's node_modules.
    trees = {"": installed}
    if root != spec.package_dir:
        trees[spec.package_dir.relative_to(root).as_posix() + "/node_modules/"] = (
            spec.package_dir / "node_modules"
        )
    before = await asyncio.to_thread(_all_packages, trees)
    try:
        warnings = await _install_resolving_peers(install, spec, log)
    except DependencyInstallFailed as exc:
        _remember_failure(failures, stamp, exc)
        raise
    if not _is_folder(installed):
        raise DependencyInstallFailed("npm install finished but made no node_modules folder")
    (installed / INSTALL_NOTES).write_text(json.dumps({"warnings": warnings}))
    (installed / INSTALLED_STAMP).write_text(stamp)
    after = await asyncio.to_thread(_all_packages, trees)
    log(f"dependencies: installed; npm {describe_changes(before, after)}")
    return Prepared(tuple(warnings))


async def _install_resolving_peers(
    install: Installer, spec: SandboxSpec, log: LogSink
) -> list[str]:
    """npm install; a peer-dependency conflict it refuses is installed again with its legacy
    peer resolution. Answers what was worked around."""
    try:
        await install(spec, log, ())
        return []
    except PeerConflict as exc:
        warning = (
            f"peer-dependency conflict: {exc.conflict}; installed with npm's {LEGACY_PEERS} "
            "(as pnpm and bun install it: the peer range is not enforced)"
        )
        log(f"dependencies: npm refused a {warning}")
        await install(spec, log, (LEGACY_PEERS,))
        return [warning]


def _remember_failure(kept: Path, stamp: str, exc: DependencyInstallFailed) -> None:
    """Keep a failure the registry decided, for this package.json (see prepare_dependencies)."""
    if exc.npm_code not in DETERMINISTIC_NPM_CODES:
        return
    kept.parent.mkdir(parents=True, exist_ok=True)
    record = {"stamp": stamp, "message": exc.message, "code": exc.npm_code}
    kept.write_text(json.dumps(record))


def _fail_as_before(kept_at: Path, stamp: str) -> None:
    """Raise the failure kept for this very package.json, if there is one."""
    kept = _read(kept_at)
    try:
        record = json.loads(kept) if kept else None
    except ValueError:
        record = None
    if isinstance(record, dict) and record.get("stamp") == stamp:
        raise DependencyInstallFailed(
            f"{record.get('message')} (not tried again: the dependencies did not change since)",
            record.get("code"),
        )


def _notes(installed: Path) -> Prepared:
    """What the install kept in ``installed`` had worked around."""
    try:
        notes = json.loads(_read(installed / INSTALL_NOTES) or "{}")
    except ValueError:
        notes = {}
    warnings = notes.get("warnings") if isinstance(notes, dict) else None
    return Prepared(tuple(str(w) for w in warnings) if isinstance(warnings, list) else ())


def _changed_specs(before: dict[str, Any], after: dict[str, Any]) -> str:
    """The dependency specs in ``after`` that ``before`` did not have: "a@^1.0.0, b@2"."""

    def specs(package: dict[str, Any]) -> dict[str, Any]:
        return {**(package.get("devDependencies") or {}), **(package.get("dependencies") or {})}

    old = specs(before)
    return ", ".join(f"{n}@{r}" for n, r in specs(after).items() if old.get(n) != r)


async def seed_from_template(template_modules: Path, target: Path) -> None:
    """``target`` (absent) becomes a copy of ``template_modules`` made of hard links (a
    plain copy where the two are on different file systems): cheap, and safe because npm
    never writes into an installed file, it replaces folders. Vite's caches are left out."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for flags in ("-al", "-a"):
        process = await asyncio.create_subprocess_exec(
            "cp",
            flags,
            str(template_modules),
            str(target),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await process.communicate()
        if process.returncode == 0:
            break
        _remove(target)
    else:
        raise SandboxError(f"could not copy the template's node_modules: {err.decode()[-300:]}")
    for cache in (".vite", ".vite-temp"):
        _remove(target / cache)


def installed_packages(node_modules: Path) -> dict[str, str]:
    """Every package in a node_modules tree (nested ones too; links, such as workspace
    packages, left out): ``{"a/node_modules/b": "1.2.3"}``, read from each package.json."""
    found: dict[str, str] = {}

    def walk(folder: Path, prefix: str) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir():
                continue
            if entry.name.startswith("@"):
                walk(Path(entry.path), f"{prefix}{entry.name}/")
                continue
            package = _package_json(Path(entry.path))
            if isinstance(version := package.get("version"), str):
                found[f"{prefix}{entry.name}"] = version
            walk(Path(entry.path) / "node_modules", f"{prefix}{entry.name}/node_modules/")

    walk(node_modules, "")
    return found


def _all_packages(trees: dict[str, Path]) -> dict[str, str]:
    """:func:`installed_packages` of several trees, each's names under its prefix."""
    return {
        prefix + where: version
        for prefix, tree in trees.items()
        for where, version in installed_packages(tree).items()
    }


def describe_changes(before: dict[str, str], after: dict[str, str], shown: int = 40) -> str:
    """npm's changes to a tree (:func:`installed_packages`' answers before and after):
    "added 2 packages (a@1.0.0, a/node_modules/b@2.1.0); changed 1 package (vite 5.4.1 ->
    5.4.2); removed 3 packages (...)"; "nothing changed" if none."""

    def listed(items: list[str]) -> str:
        more = f", and {len(items) - shown} more" if len(items) > shown else ""
        return ", ".join(items[:shown]) + more

    added = sorted(f"{w}@{v}" for w, v in after.items() if w not in before)
    removed = sorted(f"{w}@{v}" for w, v in before.items() if w not in after)
    changed = sorted(
        f"{w} {before[w]} -> {v}" for w, v in after.items() if w in before and before[w] != v
    )
    parts = [
        f"{verb} {len(items)} package{'s' if len(items) != 1 else ''} ({listed(items)})"
        for verb, items in (("added", added), ("changed", changed), ("removed", removed))
        if items
    ]
    return "; ".join(parts) or "nothing changed"


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


@dataclass(frozen=True)
class TemplateFit:
    """How well one prepared template satisfies a project's package.json."""

    dir: Path  # the template's folder on this machine
    lacking: list[str]  # the project's dependencies it does not satisfy, as name@range
    satisfied: int  # how many it does

    def name(self, settings: Settings) -> str:
        return self.dir.relative_to(settings.sandbox_images_dir).as_posix()


async def best_template(settings: Settings, package_json: dict[str, Any]) -> TemplateFit:
    """The template that satisfies the most of the project's dependencies (npm's semver;
    ties: the smallest, then the Vite template) — see ``sandbox-images/agent/deps.mjs``."""
    fits, best = await _template_fits(settings, package_json)
    return fits[best]


async def _template_fits(
    settings: Settings, package_json: dict[str, Any]
) -> tuple[list[TemplateFit], int]:
    """Every template's fit and the best one's index. Answers are kept per package.json:
    most projects send the same one, and each check is a Node process."""
    dirs = [str(d) for d in settings.template_dirs]
    key = json.dumps([dirs, package_json, settings.ignored_dev_dependencies])
    if (known := _CHECKED.get(key)) is not None:
        _CHECKED.move_to_end(key)
        return known
    request = {
        "packageJson": package_json,
        "templateDirs": dirs,
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
    answer = json.loads(out)
    fits = [
        TemplateFit(
            dir=Path(t["dir"]),
            lacking=[f"{d['name']}@{d['wanted']}" for d in t["unsatisfied"]],
            satisfied=int(t["satisfied"]),
        )
        for t in answer["templates"]
    ]
    _CHECKED[key] = (fits, int(answer["best"]))
    while len(_CHECKED) > CHECKS_KEPT:
        _CHECKED.popitem(last=False)
    return fits, int(answer["best"])


async def npm_install_here(
    settings: Settings, spec: SandboxSpec, log: LogSink, extra: tuple[str, ...] = ()
) -> None:
    """npm on this machine, into the project's own node_modules."""
    cache = settings.data_dir / "npm-cache"
    cache.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        settings.npm_binary,
        *NPM_INSTALL,
        *extra,
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
        raise _npm_failure(recent)


def _npm_failure(lines: deque[str]) -> DependencyInstallFailed:
    """npm's failure as an error: its reason and code; a peer conflict as PeerConflict."""
    codes = [m.group(1) for line in lines if (m := _NPM_CODE.match(line))]
    npm_code = codes[0] if codes else None
    if npm_code == "ERESOLVE" and (conflict := _peer_conflict(lines)):
        return PeerConflict(f"npm install failed: peer-dependency conflict: {conflict}", conflict)
    text = "\n".join(lines)
    if missing := _NOT_IN_REGISTRY.search(text):
        message = (
            f"npm install failed: package {missing.group(1)} does not exist in the npm registry"
        )
        return DependencyInstallFailed(message, npm_code)
    errors = [_NPM_ERROR.sub("", line) for line in lines if _NPM_ERROR.match(line)]
    useful = [e for e in errors if e and "complete log of this run" not in e][:4]
    message = "npm install failed: " + (" | ".join(useful) or "npm exited with an error")
    return DependencyInstallFailed(message, npm_code)


def _peer_conflict(lines: deque[str]) -> str | None:
    """What an ERESOLVE report says: "lovable-tagger@1.1.9 wants peer vite@"^5.0.0"; the
    project has vite@6.4.6" (None if it says neither)."""
    found = next((m.group(1) for line in lines if (m := _FOUND.match(line))), None)
    peer = next((m for line in lines if (m := _PEER.match(line))), None)
    if peer is None:
        return None
    wanted = peer.group(1).replace('"', "")
    who = f"{peer.group(2)} wants peer {wanted}" if peer.group(2) else f"peer {wanted}"
    return f"{who}; the project has {found}" if found else who


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
