"""Where is the Vite app in a project, and which framework is it?

Kontext projects keep the app in ``src/frontend/``, ICP-style projects in
``frontend/``, others at the root. The Vite root is the folder holding
``index.html`` (Vite's entry); those three are tried first, then any other folder
with an ``index.html``, shallowest first. The framework comes from the
dependencies of the nearest ``package.json`` (detection order as in
shared/seeds/hmr-production-environment.md: meta-frameworks with their own dev
servers first, which we refuse with a clear message).
"""

import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kontext_preview.errors import InvalidRequest, UnsupportedProject
from kontext_preview.workspace import npm_specs

PREFERRED_ROOTS = ("src/frontend", "frontend", "")
VITE_CONFIG_NAMES = tuple(f"vite.config.{ext}" for ext in ("js", "mjs", "cjs", "ts", "mts", "cts"))

# (dependency or config-file stem, name shown to the user); first match wins.
UNSUPPORTED = (
    ("next", "Next.js"),
    ("nuxt", "Nuxt"),
    ("@sveltejs/kit", "SvelteKit"),
    ("astro", "Astro"),
    ("@remix-run/react", "Remix"),
    ("@angular/core", "Angular"),
    ("react-scripts", "Create React App"),
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
    framework: str
    config_file: str | None  # vite.config.* relative to the project

    def path(self, folder: str, name: str) -> str:
        return posixpath.join(folder, name) if folder else name

    @property
    def package_json_path(self) -> str:
        return self.path(self.package_dir, "package.json")


def find_vite_root(files: Mapping[str, bytes]) -> str:
    roots = {posixpath.dirname(name) for name in files if posixpath.basename(name) == "index.html"}
    for preferred in PREFERRED_ROOTS:
        if preferred in roots:
            return preferred
    others = sorted(r for r in roots if not _is_build_output(r))
    if others:
        return min(others, key=lambda r: (r.count("/"), r))
    _refuse_known_non_vite(files)
    raise UnsupportedProject(
        "no index.html found: a Vite app needs an index.html in its root folder "
        "(looked in src/frontend/, frontend/, the project root and every other folder)"
    )


def detect_layout(files: Mapping[str, bytes]) -> ProjectLayout:
    vite_root = find_vite_root(files)
    package_dir = _nearest_package_dir(files, vite_root)
    package = read_package_json(files, package_dir)
    deps = dependency_names(package, package_dir)
    config_file = next((p for n in VITE_CONFIG_NAMES if (p := _join(vite_root, n)) in files), None)
    for marker, shown in UNSUPPORTED:
        if marker in deps or _has_config(files, vite_root, marker):
            raise UnsupportedProject(
                f"this looks like a {shown} project; kontext-preview serves Vite apps "
                "(React, Vue, Svelte, Preact, Solid or plain Vite)"
            )
    framework = next((name for dep, name in FRAMEWORKS if dep in deps), "vite-vanilla")
    return ProjectLayout(vite_root, package_dir, framework, config_file)


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


def _refuse_known_non_vite(files: Mapping[str, bytes]) -> None:
    deps = dependency_names(read_package_json(files, ""))
    for marker, shown in UNSUPPORTED:
        if marker in deps or _has_config(files, "", marker):
            raise UnsupportedProject(
                f"this looks like a {shown} project; kontext-preview serves Vite apps"
            )


def _has_config(files: Mapping[str, bytes], folder: str, stem: str) -> bool:
    if "/" in stem or "@" in stem:
        return False
    return any(_join(folder, f"{stem}.config.{ext}") in files for ext in ("js", "mjs", "ts", "cjs"))


def _is_build_output(folder: str) -> bool:
    return folder.split("/")[0] in ("dist", "build", "public", "out")


def _join(folder: str, name: str) -> str:
    return posixpath.join(folder, name) if folder else name
