"""Compare two file sets: classify each changed, added, deleted or renamed file."""

import math
import posixpath
import time
from collections.abc import Mapping
from difflib import SequenceMatcher

from kontext_preview.changes import code, components, manifest, stylesheet, text
from kontext_preview.changes.config_deps import config_dependencies, config_files
from kontext_preview.changes.imports import value_imports
from kontext_preview.changes.kinds import FileKind, file_kind, is_css, is_typescript
from kontext_preview.changes.model import ChangeAnalysis, ChangeClass, FileAnalysis
from kontext_preview.changes.policy import ChangePolicy, policy_named

RENAME_SIMILARITY = 0.9
# Larger code files are compared by lines, not parsed: tree-sitter and the token diff cost
# about 0.4 µs a byte (a one-value edit of a 2.7 MB generated module: 1.1-1.25 s, issue 18).
ANALYSIS_MAX_BYTES = 256 * 1024
Classified = tuple[ChangeClass, list[str]]

# Kinds whose class stays the same whether a file is changed, added or deleted.
_KIND_CLASS = {
    FileKind.BACKEND: ChangeClass.BACKEND,
    FileKind.MANIFEST: ChangeClass.DEPENDENCIES,
    FileKind.LOCKFILE: ChangeClass.DEPENDENCIES,
    FileKind.BUILD_CONFIG: ChangeClass.BUILD_CONFIG,
    FileKind.ASSET: ChangeClass.STATIC_ASSET,
}


def analyze(
    old: Mapping[str, bytes],
    new: Mapping[str, bytes],
    policy: ChangePolicy | None = None,
    *,
    max_bytes: int = ANALYSIS_MAX_BYTES,
    budget_seconds: float | None = None,
) -> ChangeAnalysis:
    """Classify every difference between ``old`` and ``new`` (name → content). A code file
    over ``max_bytes`` (either side), and every code file once the analysis has taken
    ``budget_seconds`` (None: no budget), gets the line-level comparison of
    :func:`kontext_preview.changes.text.classify_by_lines` instead of a parse."""
    policy = policy or policy_named("plan")
    deadline = time.perf_counter() + (math.inf if budget_seconds is None else budget_seconds)
    spent = f"the update's analysis budget of {(budget_seconds or 0) * 1000:.0f} ms was spent"
    added = [n for n in new if n not in old]
    deleted = [n for n in old if n not in new]
    renames = _renames(old, new, added, deleted)
    # The old side's config imports differ from the new side's only when a config file
    # changed or a file went away.
    config_deps = config_dependencies(new)
    if deleted or any(old.get(n) != new.get(n) for n in config_files(new)):
        config_deps = {**config_dependencies(old), **config_deps}
    # A stylesheet a module imports as a value (?raw, ?inline, ?url) reaches the page
    # through that module: injecting it as a page stylesheet would leave the value stale.
    as_value = value_imports(new, [n for n in new if n in old and old[n] != new[n] and is_css(n)])
    results: list[FileAnalysis] = []
    for name in sorted(new):
        if name in config_deps and old.get(name) != new[name]:
            results.append(_result(policy, name, *_feeds_config(config_deps[name])))
        elif name in as_value:
            reason = f"imported as a value by {as_value[name]}: its importer changes"
            results.append(_result(policy, name, ChangeClass.CONTENT_ONLY, [reason]))
        elif name in old and old[name] != new[name]:
            if time.perf_counter() > deadline and _is_code(name):
                change = text.classify_by_lines(old[name], new[name], max_bytes, spent)
            else:
                change = classify_change(name, old[name], new[name], max_bytes)
            results.append(_result(policy, name, *change))
        elif name in renames:
            previous = renames[name]
            reason = f"moved from {previous}" + ("" if old[previous] == new[name] else ", edited")
            results.append(_result(policy, name, ChangeClass.RENAMED, [reason], previous))
        elif name not in old:
            results.append(_result(policy, name, *classify_added(name)))
    moved = set(renames.values())
    for name in sorted(deleted):
        if name in config_deps and name not in moved:
            results.append(_result(policy, name, *_feeds_config(config_deps[name])))
        elif name not in moved:
            results.append(_result(policy, name, *classify_deleted(name)))
    return ChangeAnalysis(tuple(results))


def classify_change(
    name: str, old: bytes, new: bytes, max_bytes: int = ANALYSIS_MAX_BYTES
) -> Classified:
    kind = file_kind(name)
    if kind in (FileKind.CODE, FileKind.COMPONENT) and max(len(old), len(new)) > max_bytes:
        return text.classify_by_lines(old, new, max_bytes)
    try:
        before, after = old.decode("utf-8"), new.decode("utf-8")
    except UnicodeDecodeError:
        return _undecodable(kind)
    if kind is FileKind.CODE:
        return code.classify(before, after, typescript=is_typescript(name))
    if kind is FileKind.COMPONENT:
        return components.classify(before, after)
    if kind in (FileKind.STYLESHEET, FileKind.CSS_MODULE):
        return stylesheet.classify(before, after, css_module=kind is FileKind.CSS_MODULE)
    if kind is FileKind.MANIFEST:
        return manifest.classify(before, after)
    if kind is FileKind.BACKEND:
        if name.endswith((".mo", ".did")) and text.same_code_c_like(before, after):
            return ChangeClass.FORMATTING, ["only comments or whitespace changed"]
        return ChangeClass.BACKEND, [_backend_reason(name)]
    if kind is FileKind.ASSET:
        return ChangeClass.STATIC_ASSET, ["asset changed"]
    if kind is FileKind.BUILD_CONFIG:
        # Vite restarts or reloads on any write of these, whatever changed (the Vite
        # oracle: a whitespace-only vite.config.ts edit restarts it; issue 18).
        return ChangeClass.BUILD_CONFIG, [f"{posixpath.basename(name)} changed"]
    if text.same_words(before, after):
        return ChangeClass.FORMATTING, ["only whitespace changed"]
    if kind is FileKind.DATA:
        return ChangeClass.CONTENT_ONLY, ["data file changed"]
    return _KIND_CLASS[kind], [f"{posixpath.basename(name)} changed"]


def classify_added(name: str) -> Classified:
    kind = file_kind(name)
    return _KIND_CLASS.get(kind, ChangeClass.ADDED), ["new file"]


def classify_deleted(name: str) -> Classified:
    kind = file_kind(name)
    return _KIND_CLASS.get(kind, ChangeClass.DELETED), ["file deleted"]


def _is_code(name: str) -> bool:
    return file_kind(name) is FileKind.CODE


def _feeds_config(config: str) -> Classified:
    """A file a config file imports (see :mod:`kontext_preview.changes.config_deps`)."""
    base = posixpath.basename(config)
    if base.startswith("vite.config."):
        return ChangeClass.BUILD_CONFIG, [f"imported by {config}: Vite restarts its dev server"]
    return ChangeClass.BUILD_CONFIG, [f"imported by {config}: the build configuration changes"]


def _undecodable(kind: FileKind) -> Classified:
    if kind in (FileKind.CODE, FileKind.COMPONENT):
        return ChangeClass.COMPONENT_STRUCTURE, ["not valid UTF-8, so it cannot be analyzed"]
    if kind in (FileKind.STYLESHEET, FileKind.CSS_MODULE):
        return ChangeClass.STYLESHEET, ["not valid UTF-8"]
    if kind is FileKind.DATA:
        return ChangeClass.CONTENT_ONLY, ["not valid UTF-8"]
    return _KIND_CLASS[kind], ["binary content changed"]


def _backend_reason(name: str) -> str:
    if name.endswith(".mo"):
        return "Motoko backend code changed: the canister must be rebuilt and deployed"
    return f"backend file {posixpath.basename(name)} changed"


def _renames(
    old: Mapping[str, bytes], new: Mapping[str, bytes], added: list[str], deleted: list[str]
) -> dict[str, str]:
    """new name → old name, for added files whose content (nearly) matches a deleted one."""
    renames: dict[str, str] = {}
    candidates = [d for d in deleted if file_kind(d) not in _KIND_CLASS]
    for name in added:
        if file_kind(name) in _KIND_CLASS:
            continue
        for previous in candidates:
            if _similar(old[previous], new[name]):
                renames[name] = previous
                candidates.remove(previous)
                break
    return renames


def _similar(a: bytes, b: bytes) -> bool:
    if a == b:
        return True
    if not a or not b or min(len(a), len(b)) / max(len(a), len(b)) < RENAME_SIMILARITY:
        return False
    matcher = SequenceMatcher(None, a.splitlines(), b.splitlines(), autojunk=False)
    return matcher.quick_ratio() >= RENAME_SIMILARITY and matcher.ratio() >= RENAME_SIMILARITY


def _result(
    policy: ChangePolicy,
    name: str,
    cls: ChangeClass,
    reasons: list[str],
    previous: str | None = None,
) -> FileAnalysis:
    return FileAnalysis(name, cls, policy.strategy_for(cls), tuple(reasons), previous)
