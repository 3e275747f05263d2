"""Files that feed the dev server's config: what a config file imports, transitively.

Vite bundles ``vite.config.*`` with every local file it imports and restarts the dev
server when any of them changes (its ``configFileDependencies``); PostCSS and Tailwind
load their config files' local imports the same way. A file reached so is build
configuration, whatever its own kind: a ``theme.js`` that ``tailwind.config.js`` imports
changes what every page's CSS is, not one module.
"""

import posixpath
from collections.abc import Mapping

from kontext_preview.changes import code
from kontext_preview.changes.kinds import CODE_EXTENSIONS, FileKind, file_kind, is_typescript

# How Vite resolves an extensionless relative import of its config bundle (esbuild /
# rolldown's default resolve.extensions), then a folder's index.
RESOLVE_EXTENSIONS = (".ts", ".mts", ".cts", ".js", ".mjs", ".cjs", ".jsx", ".tsx", ".json")


def config_dependencies(files: Mapping[str, bytes]) -> dict[str, str]:
    """file name → the config file that (transitively) imports it, for every local file a
    build-config code file (``vite.config.ts``, ``tailwind.config.js``, …) imports."""
    roots = config_files(files)
    found: dict[str, str] = {}
    for root in sorted(roots):
        stack = [root]
        while stack:
            importer = stack.pop()
            for target in _local_imports(files, importer):
                if target not in found and target not in roots:
                    found[target] = root
                    stack.append(target)
    return found


def config_files(files: Mapping[str, bytes]) -> list[str]:
    """The build-config code files of a file set: those whose imports feed a config. They
    are all named ``<tool>.config.<ext>`` (kinds.CONFIG_PATTERN), which a substring test
    finds before file_kind looks closer (this runs over every file of each update)."""
    return [
        n
        for n in files
        if ".config." in n and file_kind(n) is FileKind.BUILD_CONFIG and _is_code(n)
    ]


def _local_imports(files: Mapping[str, bytes], importer: str) -> list[str]:
    if not _is_code(importer):
        return []
    try:
        source = files[importer].decode("utf-8")
    except UnicodeDecodeError:
        return []
    typescript = is_typescript(importer)
    folder = posixpath.dirname(importer)
    resolved = []
    for specifier in code.static_imports(source, typescript=typescript):
        if specifier.startswith(("./", "../")):
            target = _resolve(files, posixpath.normpath(posixpath.join(folder, specifier)))
            if target is not None:
                resolved.append(target)
    return resolved


def _resolve(files: Mapping[str, bytes], base: str) -> str | None:
    base = base.split("?", 1)[0]
    candidates = [base, *(base + e for e in RESOLVE_EXTENSIONS)]
    candidates += [f"{base}/index{e}" for e in RESOLVE_EXTENSIONS]
    return next((c for c in candidates if c in files), None)


def _is_code(name: str) -> bool:
    return posixpath.splitext(name.lower())[1] in CODE_EXTENSIONS
