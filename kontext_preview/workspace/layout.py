"""Where is the app in a project, and which framework is it?

Kontext projects keep the app in ``src/frontend/``, ICP-style projects in
``frontend/``, others at the root. A Vite app's root is the folder holding
``index.html`` (Vite's entry); those three are tried first, then any other folder
with an ``index.html``, shallowest first. The framework comes from the
dependencies of the nearest ``package.json`` and the config files beside it, in the
detection order of shared/seeds/hmr-production-environment.md ("Framework
Auto-Detection"): the meta-frameworks (:data:`META_FRAMEWORKS`) first. One that renders
its pages on the server (SvelteKit, React Router's framework mode) has no index.html: its
root is its package.json's folder. One whose dev server the agent cannot run yet is
refused, naming what it would need.
"""

import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kontext_preview.errors import InvalidRequest, UnsupportedProject
from kontext_preview.workspace import npm_specs

PREFERRED_ROOTS = ("src/frontend", "frontend", "")
VITE_CONFIG_NAMES = tuple(f"vite.config.{ext}" for ext in ("js", "mjs", "cjs", "ts", "mts", "cts"))


# The agent's dev-server adapters (sandbox-images/agent/adapters/<name>.mjs): Vite's, those
# of frameworks that start Vite through their own API (Astro's dev()), and Next.js's own.
DevServerName = Literal["vite", "astro", "next"]


@dataclass(frozen=True)
class MetaFramework:
    """A framework with a dev server and a page renderer of its own."""

    name: str  # as the API answers it (``framework``)
    shown: str  # as its users call it
    markers: tuple[str, ...]  # dependencies that say it is this framework (any of them)
    config_files: tuple[str, ...] = ()  # files beside package.json that say it too
    dev_server: DevServerName | None = None  # the agent's adapter that runs it (None: none yet)
    needs: str = ""  # what running it would take, said when it is refused
    # Folders it writes beside its package.json as it runs (types, caches, its build): a
    # container's read-only workspace gets a writable one there
    generated: tuple[str, ...] = ()
    # Its dev server cannot start again in place for a change of its config file (Next.js:
    # Turbopack's native side is set up once per process, and `next dev` restarts its process
    # for it too): the session's dev server is started anew
    config_restarts_process: bool = False
    # Why its production build cannot be the deployment fallback (a folder of static files),
    # if it cannot: said at once, before anything is installed for it
    no_deployment: str = ""


def _configs(stem: str) -> tuple[str, ...]:
    return tuple(f"{stem}.config.{ext}" for ext in ("js", "mjs", "cjs", "ts", "mts"))


# First match wins: the seed's order, meta-frameworks before the libraries they build on.
META_FRAMEWORKS = (
    MetaFramework(
        "nextjs",
        "Next.js",
        ("next",),
        _configs("next"),
        dev_server="next",
        generated=(".next",),
        config_restarts_process=True,
        no_deployment="a Next.js production build is a server (next start), which the "
        "deployment fallback (a folder of static files) does not run yet",
    ),
    MetaFramework(
        "nuxt",
        "Nuxt",
        ("nuxt",),
        _configs("nuxt"),
        needs="Nuxt's dev server (nuxi dev), which is not run yet",
    ),
    MetaFramework(
        "sveltekit", "SvelteKit", ("@sveltejs/kit",), dev_server="vite", generated=(".svelte-kit",)
    ),
    MetaFramework(
        "astro", "Astro", ("astro",), _configs("astro"), dev_server="astro", generated=(".astro",)
    ),
    MetaFramework(
        "react-router",
        "React Router",
        ("@react-router/dev",),
        _configs("react-router"),
        dev_server="vite",
        generated=(".react-router",),
    ),
    MetaFramework(
        "remix",
        "Remix",
        ("@remix-run/dev", "@remix-run/react"),
        _configs("remix"),
        needs="Remix's compiler or its Vite plugin, which is not run yet (React Router 7 is)",
    ),
    MetaFramework(
        "angular",
        "Angular",
        ("@angular/core",),
        ("angular.json",),
        needs="the Angular CLI's dev server (ng serve), which is not run yet",
    ),
    MetaFramework(
        "create-react-app",
        "Create React App",
        ("react-scripts",),
        needs="webpack (react-scripts), which is not run; move the app to Vite",
    ),
)
FRAMEWORKS = (
    ("react", "vite-react"),
    ("vue", "vite-vue"),
    ("svelte", "vite-svelte"),
    ("preact", "vite-preact"),
    ("solid-js", "vite-solid"),
)


@dataclass(frozen=True)
class ProjectLayout:
    vite_root: str  # folder relative to the project, "" for the project root
    package_dir: str  # folder whose package.json (and node_modules) the app uses
    framework: str  # a META_FRAMEWORKS name, or vite-react, vite-vue, … vite-vanilla
    config_file: str | None  # vite.config.* relative to the project
    # The version its package.json asks for (the range as written; None: none asked)
    framework_version: str | None = None

    @property
    def meta(self) -> "MetaFramework | None":
        return next((m for m in META_FRAMEWORKS if m.name == self.framework), None)

    @property
    def dev_server(self) -> DevServerName:
        """The agent's dev-server adapter that runs it (``DevServerName``)."""
        return (self.meta.dev_server if self.meta else None) or "vite"

    @property
    def generated_dirs(self) -> tuple[str, ...]:
        """Folders the framework writes as it runs, relative to the project."""
        return tuple(
            self.path(self.package_dir, d) for d in (self.meta.generated if self.meta else ())
        )

    def path(self, folder: str, name: str) -> str:
        return posixpath.join(folder, name) if folder else name

    @property
    def package_json_path(self) -> str:
        return self.path(self.package_dir, "package.json")


SERVED = (
    "Vite apps (React, Vue, Svelte, Preact, Solid, plain), Next.js, SvelteKit, React Router "
    "and Astro"
)


def find_vite_root(files: Mapping[str, bytes]) -> str:
    """The app's root folder: its index.html's (a Vite app), else the package.json folder of
    a meta-framework the agent runs. Raises UnsupportedProject for a framework it cannot run
    (naming what it would need) and for a project with neither."""
    roots = {posixpath.dirname(name) for name in files if posixpath.basename(name) == "index.html"}
    for preferred in PREFERRED_ROOTS:
        if preferred in roots:
            return preferred
    others = sorted(r for r in roots if not _is_build_output(r))
    if others:
        return min(others, key=lambda r: (r.count("/"), r))
    for folder in _package_dirs(files):
        deps = _dependencies(read_package_json(files, folder), folder)
        meta, _ = _meta_framework(files, deps, folder, folder)
        if meta is not None:
            return _runnable(meta, folder)
    raise UnsupportedProject(
        "no index.html found: a Vite app needs an index.html in its root folder "
        "(looked in src/frontend/, frontend/, the project root and every other folder), "
        f"and no package.json names a framework that runs without one; served: {SERVED}"
    )


def detect_layout(files: Mapping[str, bytes]) -> ProjectLayout:
    vite_root = find_vite_root(files)
    package_dir = _nearest_package_dir(files, vite_root)
    deps = _dependencies(read_package_json(files, package_dir), package_dir)
    meta, version = _meta_framework(files, deps, package_dir, vite_root)
    if meta is not None:
        vite_root = _runnable(meta, package_dir)
        framework = meta.name
    else:
        framework = next((name for dep, name in FRAMEWORKS if dep in deps), "vite-vanilla")
        version = deps.get("vite")
    config_file = next((p for n in VITE_CONFIG_NAMES if (p := _join(vite_root, n)) in files), None)
    return ProjectLayout(vite_root, package_dir, framework, config_file, version)


def _meta_framework(
    files: Mapping[str, bytes], deps: Mapping[str, str], package_dir: str, app_root: str
) -> tuple[MetaFramework | None, str | None]:
    """The meta-framework ``package_dir``'s dependencies (``deps``, its package.json's) or a
    config file in it or in ``app_root`` say the project is, and the version it asks for."""
    for meta in META_FRAMEWORKS:
        marker = next((m for m in meta.markers if m in deps), None)
        configs = {
            _join(folder, name) for folder in {package_dir, app_root} for name in meta.config_files
        }
        if marker is not None or configs & files.keys():
            return meta, deps.get(marker) if marker else None
    return None, None


def _runnable(meta: MetaFramework, folder: str) -> str:
    if meta.dev_server is None:
        raise UnsupportedProject(
            f"this is a {meta.shown} project: running it needs {meta.needs}; served: {SERVED}"
        )
    return folder


def _dependencies(package: Mapping[str, Any], package_dir: str = "") -> dict[str, str]:
    """name -> the version asked for, of dependencies and devDependencies (checked as
    :func:`dependency_names` checks them)."""
    dependency_names(package, package_dir)
    found: dict[str, str] = {}
    for key in ("devDependencies", "dependencies"):
        found.update(package.get(key) or {})
    return found


def _package_dirs(files: Mapping[str, bytes]) -> list[str]:
    """Folders with a package.json, and the project's root (a framework's config file may
    say what it is without one), the preferred ones first, then shallowest first."""
    folders = {
        posixpath.dirname(name)
        for name in files
        if posixpath.basename(name) == "package.json" and "node_modules" not in name.split("/")
    } | {""}
    preferred = [f for f in PREFERRED_ROOTS if f in folders]
    others = sorted(folders - set(preferred), key=lambda f: (f.count("/"), f))
    return preferred + [f for f in others if not _is_build_output(f)]


def read_package_json(files: Mapping[str, bytes], package_dir: str | None) -> dict[str, Any]:
    if package_dir is None:
        return {}
    name = _join(package_dir, "package.json")
    if name not in files:
        return {}
    try:
        data = json.loads(files[name])
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"{name} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidRequest(f"{name} must hold a JSON object")
    return data


def dependency_names(package: Mapping[str, Any], package_dir: str = "") -> set[str]:
    """The project's dependencies, each checked before npm ever sees it (the AI's
    package.json is untrusted): a string spec that npm's own parser reads as a registry
    version, range, tag or alias, or a ``file:`` path that stays inside the project
    (:mod:`kontext_preview.workspace.npm_specs`). Raises InvalidRequest naming the
    package and the reason."""
    names: set[str] = set()
    sections: dict[str, dict[str, str]] = {}
    for key in npm_specs.SECTIONS:
        section = package.get(key) or {}
        if not isinstance(section, dict):
            raise InvalidRequest(f"package.json {key} must be an object of name: version")
        for name, wanted in section.items():
            if len(name) > 214:
                raise InvalidRequest(f"package.json {key}: {name[:80]!r}… is too long a name")
            if not isinstance(wanted, str) or len(wanted) > 512:
                raise InvalidRequest(
                    f"package.json {key}: the version of {name} must be a string (a version range)"
                )
        sections[key] = section
        if key in ("dependencies", "devDependencies"):
            names.update(section)
    if any(sections.values()):
        refused = npm_specs.refused_specs(sections, package_dir)
        if refused:
            first = refused[0]
            more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
            refusal = UnsupportedProject if first.get("unsupported") else InvalidRequest
            raise refusal(
                f"package.json {first['section']}: {first['name'][:80]} {first['reason']} "
                f"({first['spec'][:80]!r}){more}"
            )
    return names


def dependency_sections(package: Mapping[str, Any]) -> tuple[Any, Any]:
    return package.get("dependencies"), package.get("devDependencies")


def _nearest_package_dir(files: Mapping[str, bytes], vite_root: str) -> str:
    folder = vite_root
    while True:
        if _join(folder, "package.json") in files:
            return folder
        if not folder:
            return vite_root
        folder = posixpath.dirname(folder)


def _is_build_output(folder: str) -> bool:
    return folder.split("/")[0] in ("dist", "build", "public", "out")


def _join(folder: str, name: str) -> str:
    return posixpath.join(folder, name) if folder else name
