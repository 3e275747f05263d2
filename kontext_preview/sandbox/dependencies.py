"""Dependencies without waiting: reuse a prepared template, install only what it lacks,
with the package manager and lockfile the project came with.

The prepared templates are the Vite template and the stack templates (the dependency
sets AI app builders emit, ``sandbox-images/stacks``). If one satisfies the project's
package.json (checked with npm's own semver by ``sandbox-images/agent/deps.mjs``) and the
project has no lockfile, the project gets a symlink to its node_modules and starts with no
install at all. Otherwise the project's own manager (:mod:`~kontext_preview.sandbox.managers`:
npm, Yarn, pnpm or bun, by its lockfile) installs it, with install scripts off and a cache
shared by all sessions, in a copy of the project (the *stage*, the session's ``install/``
folder): nothing it writes (a lockfile it updates, its own state files) reaches the
project, on either backend. npm and bun start from the best template's tree copied in as
hard links, so they fetch only what it lacks. The node_modules folders the install made
(the install root's, and any a workspace member or nested package.json got) are moved to
where the backend keeps them between installs (:data:`Installer`'s ``home``). Each line
the manager prints is passed to the session's log as progress. An install is done once per
package.json and lockfile: a later start with the same ones reuses it.
"""

import asyncio
import contextlib
import fnmatch
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import unquote

import yaml

from kontext_preview.config import Settings
from kontext_preview.errors import DependencyInstallFailed, PeerConflict, SandboxError
from kontext_preview.sandbox.base import LogSink, Prepared, SandboxSpec
from kontext_preview.sandbox.managers import (
    DEFAULT_REGISTRY,
    PackageManager,
    Toolbox,
    detect,
    fetch_from,
    install_command,
)
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
# The other managers' failures: pnpm's ERR_PNPM_* codes, Yarn's and bun's error lines.
_PNPM_CODE = re.compile(r"\b(ERR_PNPM_[A-Z0-9_]+)")
_ERROR_LINE = re.compile(r"^(?:error\b|error:|ERR_PNPM_|\S*\s*YN0\d+: .*(?:error|Error)| ?ERR!)")
# A package or version the registry does not have, as Yarn, pnpm and bun say it: the name is
# the first group that matched; the code npm would give (ETARGET: no such version).
_MISSING = (
    (re.compile(r"Couldn't find package \"?([^\s\"]+?)\"? (?:required|on the)"), "E404"),
    (re.compile(r"package \"([^\"]+)\" not found"), "E404"),
    (re.compile(r"ERR_PNPM_FETCH_404.*?/([^/\s:]+):"), "E404"),
    (re.compile(r"GET https?://\S+?/([^/\s]+) - 404"), "E404"),  # bun
    (re.compile(r"No matching version found for (\S+)"), "ETARGET"),
    (re.compile(r"No version matching \"[^\"]*\" found for specifier \"([^\"]+)\""), "ETARGET"),
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
        "ERR_PNPM_FETCH_404",
        "ERR_PNPM_NO_MATCHING_VERSION",
        "ERR_PNPM_SPEC_NOT_SUPPORTED_BY_ANY_RESOLVER",
    }
)
# npm's own legacy peer resolution (npm 4-6's: peers are not installed, and a conflict is not
# an error): what the AI builders' own tools do with such a project (pnpm and bun warn).
LEGACY_PEERS = "--legacy-peer-deps"
INSTALL_FAILED = "install-failed.json"  # in the session's folder: the last failure
INSTALL_NOTES = ".kontext-install.json"  # in node_modules: what the install worked around
INSTALLED_STAMP = ".kontext-package.json"  # in node_modules: the package.json it was made for
STAGE = "install"  # in the session's folder: the project's copy a manager installs in
CHECKS_KEPT = 256
_CHECKED: OrderedDict[str, tuple[list["TemplateFit"], int]] = OrderedDict()  # by package.json


@dataclass(frozen=True)
class InstallRun:
    """One run of a package manager, in the stage."""

    manager: PackageManager
    stage: Path  # the project's copy on this machine
    cwd: Path  # the install root, in the stage
    extra: tuple[str, ...] = ()  # the manager's extra arguments (npm's legacy peers)


# Runs a manager (where the backend runs it: here, or in a container seeing the stage as
# the project), raising DependencyInstallFailed with the manager's reason.
Installer = Callable[[InstallRun, LogSink], Awaitable[None]]


async def prepare_dependencies(
    settings: Settings,
    spec: SandboxSpec,
    log: LogSink,
    *,
    install: Installer,
    home: Path,
    in_sandbox: Callable[[Path], PurePath] = lambda path: path,
) -> Prepared:
    """Give the project the node_modules it needs, the cheapest way there is.

    - No lockfile, and a prepared template (:attr:`Settings.template_dirs`) satisfies every
      dependency: ``node_modules`` is a symlink to its node_modules (``in_sandbox`` maps a
      path of this machine to where the sandbox sees it).
    - Else the project's manager (its lockfile's) installs it in the stage, the first time
      from the best template's tree for npm and bun (copied in as hard links: they keep
      every version it has that the project's ranges and lockfile accept and fetch only
      the rest), later over the session's own trees, so every other version stays as it
      was. The trees are kept under ``home`` at the project's layout
      (``home/<folder>/node_modules``; the local backend's ``home`` is the workspace).
    - The same package.json and lockfile as the last successful install: nothing to do.

    The answer is logged as what the install added, changed and removed (the trees before
    and after). A peer-dependency conflict npm refuses (ERESOLVE: an AI builder's own Vite
    plugin pinned to an older Vite) is installed again with npm's legacy peer resolution,
    as the builders' tools install such projects, and said in the answer's ``warnings``; a
    lockfile the manager had to update (it does not hold what package.json asks for) is
    said there too.

    Raises DependencyInstallFailed (the manager's own reason) or SandboxError (a check
    failed, or a manager this node does not run). A failure the registry's answer decided
    (:data:`DETERMINISTIC_NPM_CODES`) is remembered in the session's folder: the same
    package.json fails at once, without installing, until the dependencies change (for the
    session's deployments too).
    """
    node_modules = spec.package_dir / "node_modules"
    root = workspaces_root(spec)
    manager = await detect(settings, root, spec.workspace)
    fit = await best_template(settings, spec.package_json)
    if not fit.lacking and manager.lockfile is None:
        target = in_sandbox(fit.dir / "node_modules")
        if node_modules.is_symlink() and os.readlink(node_modules) == str(target):
            return Prepared()
        for tree in installed_trees(home):
            _remove(home / tree / "node_modules")
        _remove(node_modules)
        node_modules.symlink_to(target, target_is_directory=True)
        where = fit.name(settings)
        log(f"dependencies: all provided by the prepared template {where}, nothing to install")
        return Prepared()
    if node_modules.is_symlink():
        node_modules.unlink()
    project = spec.workspace
    workspaces = [_package_json(root), _pnpm_workspace(root)] if root != spec.package_dir else None
    lock = (root / manager.lockfile).read_bytes() if manager.lockfile else b""
    stamp = json.dumps(
        [spec.package_json, workspaces, manager.agent, hashlib.sha256(lock).hexdigest()],
        sort_keys=True,
    )
    root_rel = root.relative_to(project).as_posix()
    installed = home / root_rel / "node_modules"
    if root != spec.package_dir:
        where = root_rel if root_rel != "." else "the project root"
        log(f"dependencies: {where} declares workspaces; they are installed there")
    last = _read(installed / INSTALLED_STAMP) if _is_folder(installed) else None
    if last == stamp:
        log("dependencies: installed before for this package.json")
        return _notes(installed)
    # The session's, for its deployments too (they prepare in folders of their own).
    failures = settings.data_dir / "sessions" / spec.session_id / INSTALL_FAILED
    _fail_as_before(failures, stamp)
    stage = spec.run_dir.parent / STAGE
    copy_project(project, stage)
    try:
        moved = await _to_stage(home, stage, fit, manager, root_rel, settings, log)
        if last is None:
            wanted = ", ".join(fit.lacking) or "the lockfile's versions"
        else:  # the session's own install, for an earlier package.json: it is updated
            wanted = _changed_specs(json.loads(last)[0], spec.package_json) or "the same"
        how = f" from {manager.lockfile}" if manager.lockfile else ""
        log(
            f"dependencies: installing {wanted} with {manager.label}{how} "
            "(install scripts disabled)"
        )
        staged = stage / root_rel
        lock_sent = _fetch_from_registry(staged, manager, log)
        before = await asyncio.to_thread(_all_packages, _trees_in(stage, moved))
        run = InstallRun(manager, stage, staged)
        try:
            warnings = await _install_resolving_peers(install, run, log)
        except DependencyInstallFailed as exc:
            _remember_failure(failures, stamp, exc)
            raise
        if not _is_folder(staged / "node_modules"):
            raise DependencyInstallFailed(
                f"{manager.label} install finished but made no node_modules folder"
            )
        made = installed_trees(stage)
        after = await asyncio.to_thread(_all_packages, _trees_in(stage, made))
        if lock_sent is not None and (staged / str(manager.lockfile)).read_text() != lock_sent:
            warnings.append(
                f"{manager.lockfile} does not hold what package.json asks for (or is in an "
                f"older format): {manager.label} installed what it resolves from both, as it "
                f"would, and updated its copy (the project's {manager.lockfile} is unchanged)"
            )
        (staged / "node_modules" / INSTALL_NOTES).write_text(json.dumps({"warnings": warnings}))
        (staged / "node_modules" / INSTALLED_STAMP).write_text(stamp)
        log(f"dependencies: installed; {manager.label} {describe_changes(before, after)}")
        return Prepared(tuple(warnings))
    finally:
        await asyncio.to_thread(_to_home, stage, home)


async def _to_stage(
    home: Path,
    stage: Path,
    fit: "TemplateFit",
    manager: PackageManager,
    root_rel: str,
    settings: Settings,
    log: LogSink,
) -> list[str]:
    """Move the session's trees into the stage (a first install: seed the root's from the
    template where the manager keeps what it finds). Answers the trees' folders."""
    installed = home / root_rel / "node_modules"
    trees = installed_trees(home)
    if not _is_folder(installed) or _read(installed / INSTALLED_STAMP) is None:
        for tree in trees:  # nothing installed yet, or a half-made install: start afresh
            _remove(home / tree / "node_modules")
        trees = []
        # The template's tree is worth starting from when it has most of what the project
        # asks for: npm reconciles every package of it, and replacing most of a tree costs
        # more than laying it out afresh (create-vite's React app on Vite 6, 2 of its 4
        # counted dependencies in the Vite template: npm took 5.6 s over the copy, 3.7 s
        # into an empty folder, warm cache).
        if manager.seeds_from_template and fit.satisfied > len(fit.lacking):
            await seed_from_template(fit.dir / "node_modules", stage / root_rel / "node_modules")
            log(
                f"dependencies: starting from a copy of the prepared template "
                f"{fit.name(settings)}, which has {fit.satisfied} of the project's dependencies"
            )
            trees = [root_rel]
    else:
        for tree in trees:
            target = stage / tree / "node_modules"
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(home / tree / "node_modules", target)
    return trees


def _to_home(stage: Path, home: Path) -> None:
    """The stage's trees back where the session keeps them; the stage removed."""
    if not stage.exists():
        return
    for tree in installed_trees(stage):
        target = home / tree / "node_modules"
        _remove(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(stage / tree / "node_modules", target)
    _remove(stage)


def _fetch_from_registry(staged: Path, manager: PackageManager, log: LogSink) -> str | None:
    """The stage's lockfile with tarballs on other registries fetched from the configured
    one (npm does it itself); its text as the manager is given it (None: no text lockfile)."""
    if manager.lockfile is None or manager.lockfile.endswith(".lockb"):
        return None
    path = staged / manager.lockfile
    text = path.read_text(errors="replace")
    if manager.name != "npm":
        text, moved = fetch_from(text, configured_registry())
        if moved:
            path.write_text(text)
            log(
                f"dependencies: {moved} of {manager.lockfile}'s packages are on another "
                "registry; fetched from this node's (same versions, same integrity)"
            )
    return text


def copy_project(project: Path, stage: Path) -> None:
    """``stage`` (made afresh) becomes a copy of the project's files, without node_modules."""
    _remove(stage)
    shutil.copytree(project, stage, symlinks=True, ignore=shutil.ignore_patterns("node_modules"))


def installed_trees(base: Path) -> list[str]:
    """The folders under ``base`` (as posix paths relative to it, ``.`` for itself) that hold
    a node_modules folder, not looking into node_modules folders."""
    found = []
    for folder, dirs, _ in os.walk(base):
        if "node_modules" in dirs and _is_folder(Path(folder) / "node_modules"):
            found.append(Path(folder).relative_to(base).as_posix())
        dirs[:] = [d for d in dirs if d != "node_modules" and not d.startswith(".")]
    return found


def _trees_in(base: Path, trees: list[str]) -> dict[str, Path]:
    """:func:`_all_packages`' input: each tree under a prefix naming its folder."""
    return {("" if t == "." else f"{t}/node_modules/"): base / t / "node_modules" for t in trees}


async def _install_resolving_peers(install: Installer, run: InstallRun, log: LogSink) -> list[str]:
    """Install; a peer-dependency conflict npm refuses is installed again with its legacy
    peer resolution. Answers what was worked around."""
    try:
        await install(run, log)
        return []
    except PeerConflict as exc:
        warning = (
            f"peer-dependency conflict: {exc.conflict}; installed with npm's {LEGACY_PEERS} "
            "(as pnpm and bun install it: the peer range is not enforced)"
        )
        log(f"dependencies: npm refused a {warning}")
        await install(InstallRun(run.manager, run.stage, run.cwd, (LEGACY_PEERS,)), log)
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


HIDDEN_LOCKFILE = ".package-lock.json"  # npm's, in node_modules (docs: npm package-lock.json)


async def seed_from_template(template_modules: Path, target: Path) -> None:
    """``target`` (absent) becomes a copy of ``template_modules`` made of hard links (a
    plain copy where the two are on different file systems): cheap, and safe because npm
    never writes into an installed file, it replaces folders; but for its hidden lockfile
    (``node_modules/.package-lock.json``, rewritten in place after every install), which
    is copied, not linked: linked, the template's would describe the last session's tree
    and the next install over the template would "remove" what it does not list. Vite's
    caches are left out."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # The tree itself, never a link to it: a template whose node_modules is a symbolic link
    # would be copied as that link, and the session would install into the template.
    template_modules = await asyncio.to_thread(template_modules.resolve)
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
    hidden = target / HIDDEN_LOCKFILE
    if hidden.is_file() and not hidden.is_symlink():
        hidden.unlink()
        shutil.copy2(template_modules / HIDDEN_LOCKFILE, hidden)  # its mtime kept: npm trusts it


def installed_packages(node_modules: Path) -> dict[str, str]:
    """Every package in a node_modules tree (nested ones too): ``{"a/node_modules/b":
    "1.2.3"}``, read from each package.json. A linked package (pnpm's layout, bun's
    isolated one, a workspace member) counts by its own package.json, its folder not looked
    into (its dependencies are other links at the top)."""
    found: dict[str, str] = {}

    def walk(folder: Path, prefix: str) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir():  # is_dir follows links
                continue
            if entry.name.startswith("@"):
                walk(Path(entry.path), f"{prefix}{entry.name}/")
                continue
            package = _package_json(Path(entry.path))
            if isinstance(version := package.get("version"), str):
                found[f"{prefix}{entry.name}"] = version
            if not entry.is_symlink():
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
    """Where the app's dependencies are installed: the nearest folder above its package.json
    (within the project) that declares it a workspace member (npm's, Yarn's and bun's
    ``workspaces`` in package.json, pnpm's ``packages`` in pnpm-workspace.yaml: the manager
    then hoists into that folder's node_modules and links the members), else the app's own
    folder. Patterns are the managers': folder globs relative to that root."""
    folder = spec.package_dir
    while folder != spec.workspace and spec.workspace in folder.parents:
        folder = folder.parent
        patterns = _workspace_patterns(folder)
        relative = spec.package_dir.relative_to(folder).as_posix()
        if any(fnmatch.fnmatch(relative, p.rstrip("/").removeprefix("./")) for p in patterns):
            return folder
    return spec.package_dir


def _workspace_patterns(folder: Path) -> list[str]:
    declared = _package_json(folder).get("workspaces")
    if isinstance(declared, dict):  # {"packages": [...]}, as Yarn writes it
        declared = declared.get("packages")
    if not isinstance(declared, list):
        declared = _pnpm_workspace(folder).get("packages")
    if not isinstance(declared, list):
        return []
    return [p for p in declared if isinstance(p, str) and not p.startswith("!")]


def _pnpm_workspace(folder: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load((folder / "pnpm-workspace.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


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


async def install_here(settings: Settings, run: InstallRun, log: LogSink) -> None:
    """The project's manager on this machine, in the stage, with this process's rights."""
    cache = settings.data_dir / "npm-cache"
    cache.mkdir(parents=True, exist_ok=True)
    tools = Toolbox(
        npm=(settings.npm_binary,),
        node=settings.node_binary,
        managers=settings.sandbox_images_dir / "managers",
        cache=cache,
    )
    argv, env = install_command(run.manager, tools, configured_registry(), run.extra)
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=run.cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**_npm_env(), **env},
        start_new_session=True,
    )
    assert process.stdout
    try:
        await follow_install(settings, run.manager, text_lines(process.stdout), process.wait, log)
    finally:
        await terminate_group(process, 2.0)


async def follow_install(
    settings: Settings,
    manager: PackageManager,
    lines: AsyncIterator[str],
    exit_code: Callable[[], Awaitable[int]],
    log: LogSink,
) -> None:
    """Log the manager's output as progress; raise DependencyInstallFailed, with its own
    reason, if it fails or takes longer than the install timeout."""
    recent: deque[str] = deque(maxlen=40)
    progress = _Progress(manager.name, log)
    try:
        async with asyncio.timeout(settings.install_timeout_seconds):
            async for line in lines:
                recent.append(line)
                if not progress.counted(line):
                    log(f"{manager.name}: {line}")
            code = await exit_code()
        progress.done()
    except TimeoutError:
        raise DependencyInstallFailed(
            f"{manager.label} install took longer than {settings.install_timeout_seconds:g} s "
            "and was stopped"
        ) from None
    if code != 0:
        raise _npm_failure(recent) if manager.name == "npm" else _failure(manager, recent)


# A manager's per-request and per-tick lines (npm's http log, pnpm's progress): counted and
# summed up in the session's log every PROGRESS_EVERY_S, not one line each (an install of a
# few hundred packages printed that many lines and pushed everything else out of the log).
_PROGRESS_LINE = re.compile(r"^(?:npm http (?:fetch|cache) |Progress: )")
PROGRESS_EVERY_S = 2.0


class _Progress:
    def __init__(self, name: str, log: LogSink):
        self.name, self.log = name, log
        self.requests = self.cached = 0
        self.last = ""
        self.said_at = time.monotonic()

    def counted(self, line: str) -> bool:
        """Whether ``line`` is one of the manager's progress lines (then it is counted)."""
        if not _PROGRESS_LINE.match(line):
            return False
        if line.startswith("npm http"):
            self.requests += 1
            self.cached += "(cache hit)" in line or "(cache stale)" in line
        self.last = line
        if time.monotonic() - self.said_at >= PROGRESS_EVERY_S:
            self.say()
        return True

    def say(self) -> None:
        self.said_at = time.monotonic()
        if self.requests:
            self.log(
                f"{self.name}: {self.requests} registry requests so far "
                f"({self.cached} answered by the cache)"
            )
        elif self.last:
            self.log(f"{self.name}: {self.last}")

    def done(self) -> None:
        if self.requests or self.last:
            self.say()


def _failure(manager: PackageManager, lines: deque[str]) -> DependencyInstallFailed:
    """Yarn's, pnpm's or bun's failure as an error: its error lines (and pnpm's code; a
    package the registry does not have as E404, as npm says it)."""
    text = "\n".join(lines)
    codes = _PNPM_CODE.findall(text)
    code = codes[0] if codes else None
    for pattern, npm_code in _MISSING:
        if missing := pattern.search(text):
            name = unquote(missing.group(1))
            what = "that version of " if npm_code == "ETARGET" else ""
            message = f"{manager.label} install failed: {what}{name} is not in the npm registry"
            return DependencyInstallFailed(message, code or npm_code)
    errors = [line.strip() for line in lines if _ERROR_LINE.match(line.strip())][-4:]
    useful = errors or [line.strip() for line in lines if line.strip()][-3:]
    message = f"{manager.label} install failed: " + (
        " | ".join(useful) or f"{manager.name} exited with an error"
    )
    return DependencyInstallFailed(message, code)


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


def configured_registry() -> str:
    """The registry this machine's npm is pointed at (its environment, else its config:
    ``npm config get registry``, asked once), for every manager, here and in containers."""
    if env := next(iter(npm_registry_env().values()), None):
        return env
    return _npm_config_registry()


@functools.cache
def _npm_config_registry() -> str:
    try:
        answer = subprocess.run(
            ["npm", "config", "get", "registry"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        answer = ""
    return answer if answer.startswith("http") else DEFAULT_REGISTRY


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
