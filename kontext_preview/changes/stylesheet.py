"""Stylesheet analyzer (CSS, SCSS, Less, ...): formatting vs. rules, and CSS-module class names.

Comments and insignificant whitespace are removed with a tokenizing regex (strings
kept whole), so ``a{color:red}`` and ``a { color: red; }`` compare equal apart from
the optional last semicolon. Reasons name the top-level rules that overlap the
changed window, found by scanning braces.
"""

import re

from kontext_preview.changes.model import ChangeClass
from kontext_preview.changes.window import changed_windows

_TOKENS = re.compile(
    r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|/\*.*?\*/|//[^\n]*|\s+|[^\s"\'/]+|/',
    re.DOTALL,
)
_PUNCTUATION = frozenset("{}:;,>+~()[]")
_CLASS_SELECTOR = re.compile(r"\.(-?[_a-zA-Z][\w-]*)")
_BRACES = re.compile(r"[{}]")
MAX_REASONS = 5


def classify(old: str, new: str, *, css_module: bool = False) -> tuple[ChangeClass, list[str]]:
    if normalized(old) == normalized(new):
        return ChangeClass.FORMATTING, ["only comments or whitespace changed"]
    if css_module:
        before, after = class_names(old), class_names(new)
        if before != after:
            reasons = [f"CSS module class {n} added" for n in sorted(after - before)]
            reasons += [f"CSS module class {n} removed" for n in sorted(before - after)]
            return ChangeClass.STYLE_ONLY, [*reasons, "the component's class-name map changes"]
        # Vite serves a CSS module as a JS module (its class map) that does not accept
        # itself: an edit updates the importing component (the Vite oracle, issue 18).
        reasons = _rule_reasons(old, new)
        return ChangeClass.STYLE_ONLY, [*reasons, "a CSS module: its importer is updated"]
    return ChangeClass.STYLESHEET, _rule_reasons(old, new)


def normalized(css: str) -> str:
    """The stylesheet without comments and without whitespace that means nothing."""
    out: list[str] = []
    for match in _TOKENS.finditer(css):
        token = match.group(0)
        if token.startswith(("/*", "//")) and len(token) > 1:
            if token.startswith("//") and not _line_comment_allowed(out):
                out.append(token)
            continue
        if token.isspace():
            if out and out[-1][-1] not in _PUNCTUATION:
                out.append(" ")
            continue
        if out and out[-1] == " " and token[0] in _PUNCTUATION:
            out.pop()
        out.append(token)
    return "".join(out).replace(";}", "}").strip()


def _line_comment_allowed(out: list[str]) -> bool:
    # "//" is a comment in SCSS/Less, but part of a URL in url(http://...).
    return not (out and out[-1].endswith(("(", ":")))


def class_names(css: str) -> set[str]:
    names: set[str] = set()
    for selector, _, _ in _blocks(normalized(css), nested=True):
        names.update(_CLASS_SELECTOR.findall(selector))
    return names


def _rule_reasons(old: str, new: str) -> list[str]:
    old_bytes, new_bytes = old.encode(), new.encode()
    old_window, new_window = changed_windows(old_bytes, new_bytes)
    before = _touched(old_bytes.decode(errors="replace"), old_window)
    after = _touched(new_bytes.decode(errors="replace"), new_window)
    reasons = [f"rule {s} added" for s in after if s not in before]
    reasons += [f"rule {s} removed" for s in before if s not in after]
    reasons += [f"rule {s} changed" for s in after if s in before and before[s] != after[s]]
    if not reasons:
        reasons = ["stylesheet changed outside any rule"]
    if len(reasons) > MAX_REASONS:
        reasons = [*reasons[:MAX_REASONS], f"and {len(reasons) - MAX_REASONS} more rules"]
    return reasons


def _touched(css: str, window: tuple[int, int]) -> dict[str, str]:
    """Selector → normalized text of the top-level rules overlapping the window, in order."""
    start, end = (len(css.encode()[:w].decode(errors="ignore")) for w in window)
    return {
        " ".join(selector.split()): normalized(css[rule_start:rule_end])
        for selector, rule_start, rule_end in _blocks(css)
        if rule_start <= end and rule_end >= start
    }


def _blocks(css: str, nested: bool = False) -> list[tuple[str, int, int]]:
    """(selector, start, end) of each top-level block (each block, if ``nested``)."""
    blocks: list[tuple[str, int, int]] = []
    opened: list[tuple[str, int]] = []
    previous_end = 0
    for match in _BRACES.finditer(css):
        if match.group(0) == "{":
            prelude = css[previous_end : match.start()]
            selector = prelude.rsplit(";", 1)[-1].rsplit("}", 1)[-1].strip()
            opened.append((selector, match.start() - len(prelude)))
            previous_end = match.end()
        elif opened:
            selector, block_start = opened.pop()
            if nested or not opened:
                blocks.append((selector, block_start, match.end()))
            previous_end = match.end()
    return blocks
