"""What a file is, judged by its path (its content is looked at by the analyzers)."""

import posixpath
import re
from enum import StrEnum

from kontext_preview.changes.components import COMPONENT_EXTENSIONS


class FileKind(StrEnum):
    CODE = "code"  # JS/TS modules, components
    COMPONENT = "component"  # a framework's component file: .vue, .svelte, .astro
    STYLESHEET = "stylesheet"
    CSS_MODULE = "css-module"
    BACKEND = "backend"
    MANIFEST = "manifest"  # package.json
    LOCKFILE = "lockfile"
    BUILD_CONFIG = "build-config"
    DATA = "data"  # JSON the app imports
    ASSET = "asset"


CODE_EXTENSIONS = frozenset({".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs", ".mts", ".cts"})
STYLESHEET_EXTENSIONS = frozenset({".css", ".scss", ".sass", ".less", ".styl", ".stylus", ".pcss"})
BACKEND_EXTENSIONS = frozenset({".mo", ".did", ".py", ".rs", ".go"})
BACKEND_NAMES = frozenset({"dfx.json", "icp.yaml", "canister_ids.json", "mops.toml"})
LOCKFILES = frozenset({"package-lock.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb", "bun.lock"})
CONFIG_NAMES = frozenset({"jsconfig.json", ".env", ".npmrc", ".browserslistrc"})
CONFIG_PATTERN = re.compile(
    r"^(vite|vitest|tailwind|postcss|eslint|babel|svelte|prettier|astro|next|nuxt|"
    r"react-router|remix|angular)\.config\.[a-z]+$|^angular\.json$"
    r"|^tsconfig.*\.json$|^\.env\..+$|^\.eslintrc.*$|^\.babelrc.*$|^\.postcssrc.*$"
)


def is_typescript(name: str) -> bool:
    """A TypeScript module without JSX (parsed with the TypeScript grammar, not TSX)."""
    return name.endswith((".ts", ".mts", ".cts"))


def is_css(name: str) -> bool:
    """A stylesheet or a CSS module."""
    return file_kind(name) in (FileKind.STYLESHEET, FileKind.CSS_MODULE)


def file_kind(name: str) -> FileKind:
    base = posixpath.basename(name)
    lower = base.lower()
    ext = posixpath.splitext(lower)[1]
    if lower == "package.json":
        return FileKind.MANIFEST
    if lower in LOCKFILES:
        return FileKind.LOCKFILE
    if lower in BACKEND_NAMES or ext in BACKEND_EXTENSIONS:
        return FileKind.BACKEND
    if lower in CONFIG_NAMES or CONFIG_PATTERN.match(lower) or ext == ".html":
        return FileKind.BUILD_CONFIG
    if ext in STYLESHEET_EXTENSIONS:
        return FileKind.CSS_MODULE if ".module." in lower else FileKind.STYLESHEET
    if ext in CODE_EXTENSIONS:
        return FileKind.CODE
    if ext in COMPONENT_EXTENSIONS:
        return FileKind.COMPONENT
    if ext == ".json":
        return FileKind.DATA
    return FileKind.ASSET
