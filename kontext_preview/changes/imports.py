"""The local import graph of a file set, as far as the analysis needs it: which files a
module imports (relative specifiers, resolved as Vite resolves them) and with which query.

A query changes what an import is (Vite's "Static Asset Handling" and "CSS" guides,
https://vite.dev/guide/assets and https://vite.dev/guide/features#css): ``?raw`` and
``?inline`` make the file's text a string, ``?url`` its URL, ``?worker`` /
``?sharedworker`` a Worker constructor. A stylesheet so imported is a value in a module,
not (or not only) a page stylesheet, and an edit reaches the page through the importer.
"""

import posixpath
import re
from collections.abc import Collection, Mapping

from kontext_preview.changes import code
from kontext_preview.changes.kinds import (
    CODE_EXTENSIONS,
    FileKind,
    file_kind,
    is_css,
    is_typescript,
)

# How Vite resolves an extensionless relative import (its resolve.extensions default is
# .mjs .js .mts .ts .jsx .tsx .json; the config bundle adds .cts/.cjs), then a folder's
# index.
RESOLVE_EXTENSIONS = (".ts", ".mts", ".cts", ".js", ".mjs", ".cjs", ".jsx", ".tsx", ".json")
# Queries that make an imported file a value of its importer (see the module docstring).
VALUE_QUERIES = frozenset({"raw", "inline", "url", "worker", "sharedworker"})
# `composes: a b from "./other.module.css"` (CSS Modules' spec,
# https://github.com/css-modules/css-modules#composing-from-other-files).
COMPOSES_FROM = re.compile(rb"composes\s*:[^;}]*?\bfrom\s+([\"'])(.+?)\1")


def local_imports(files: Mapping[str, bytes], importer: str) -> list[tuple[str, str]]:
    """(file name, query without ``?``; ``""`` for none) for each relative import of the
    code file ``importer`` that resolves to a file of ``files``, in source order; ``[]``
    for a file that is not code or not UTF-8."""
    if not is_code(importer):
        return []
    try:
        source = files[importer].decode("utf-8")
    except UnicodeDecodeError:
        return []
    folder = posixpath.dirname(importer)
    found = []
    for specifier in code.static_imports(source, typescript=is_typescript(importer)):
        if not specifier.startswith(("./", "../")):
            continue
        path, _, query = specifier.partition("?")
        target = resolve(files, posixpath.normpath(posixpath.join(folder, path)))
        if target is not None:
            found.append((target, query))
    return found


def value_imports(files: Mapping[str, bytes], targets: Collection[str]) -> dict[str, str]:
    """target → the first code file that imports it with a value query (``?raw``,
    ``?inline``, ``?url``, ``?worker``, ``?sharedworker``), for those of ``targets`` so
    imported. Only code files whose bytes hold ``?`` are parsed."""
    wanted = set(targets)
    found: dict[str, str] = {}
    if not wanted:
        return found
    for importer in sorted(files):
        if not is_code(importer) or b"?" not in files[importer]:
            continue
        for target, query in local_imports(files, importer):
            flags = {part.split("=", 1)[0] for part in query.split("&")}
            if target in wanted and target not in found and flags & VALUE_QUERIES:
                found[target] = f"{importer} (?{query})"
    return found


def value_import_candidates(files: Mapping[str, bytes], targets: Collection[str]) -> list[str]:
    """The code files that may import one of ``targets`` with a query: those whose bytes
    hold a target's base name followed by ``?`` (a byte search, for the update path to
    hand :func:`value_imports` the importers along with the changed files)."""
    needles = {posixpath.basename(t).encode() + b"?" for t in targets}
    if not needles:
        return []
    return [n for n, data in files.items() if is_code(n) and any(x in data for x in needles)]


def untracked_dependents(
    old: Mapping[str, bytes], new: Mapping[str, bytes], changed: Collection[str]
) -> list[str]:
    """Unchanged files of ``new`` that an update of ``changed`` (names written or deleted)
    leaves stale in Vite, which must be handled as changed too:

    - a code file with a relative import that resolves to another file now (``./pages/About``
      was ``About.tsx`` and is ``About.jsx``; a new ``index.ts`` in a folder): Vite keeps
      the old resolved URL in the importer's transform, even for a fresh page load (an
      import that resolves to nothing now is left to Vite: its importer fails to load the
      old URL and the page shows that error, as a fresh load shows the missing file);
    - a CSS module that ``composes`` from a changed stylesheet (transitively): Vite does not
      record the dependency, so the composing module keeps the old rules.

    Only files whose bytes name a changed file's stem are looked at (a byte search)."""
    changed = set(changed)
    dependents: set[str] = set()
    added_or_deleted = [n for n in changed if (n in old) != (n in new)]
    stems = {_stem(n).encode() for n in added_or_deleted}
    if stems:
        for name, data in new.items():
            if name in changed or name not in old or not is_code(name):
                continue
            if (
                old[name] == data
                and any(stem in data for stem in stems)
                and set(local_imports(new, name)) - set(local_imports(old, name))
            ):
                dependents.add(name)
    stack = [n for n in changed if is_css(n)]
    modules = [n for n in new if n not in changed and file_kind(n) is FileKind.CSS_MODULE]
    while stack:
        target = stack.pop()
        needle = posixpath.basename(target).encode()
        for name in modules:
            if name in dependents or needle not in new[name]:
                continue
            if target in _composed_files(new, name):
                dependents.add(name)
                stack.append(name)
    return sorted(dependents)


def _composed_files(files: Mapping[str, bytes], module: str) -> list[str]:
    folder = posixpath.dirname(module)
    found = []
    for match in COMPOSES_FROM.finditer(files[module]):
        specifier = match.group(2).decode("utf-8", "replace")
        if specifier.startswith(("./", "../")):
            found.append(posixpath.normpath(posixpath.join(folder, specifier)))
    return found


def _stem(name: str) -> str:
    """What an extensionless import of ``name`` names: ``About`` for ``About.tsx``, the
    folder for an ``index.*``."""
    base = posixpath.splitext(posixpath.basename(name))[0]
    return posixpath.basename(posixpath.dirname(name)) if base == "index" else base


def resolve(files: Mapping[str, bytes], base: str) -> str | None:
    """The file ``base`` (a normalized path without query) names: itself, with one of
    RESOLVE_EXTENSIONS, or a folder's index; ``None`` if none is in ``files``."""
    candidates = [base, *(base + e for e in RESOLVE_EXTENSIONS)]
    candidates += [f"{base}/index{e}" for e in RESOLVE_EXTENSIONS]
    return next((c for c in candidates if c in files), None)


def is_code(name: str) -> bool:
    return posixpath.splitext(name.lower())[1] in CODE_EXTENSIONS
