"""Plain-text comparisons: whitespace-only and comment-only changes."""

import re

from kontext_preview.changes.model import ChangeClass
from kontext_preview.changes.window import changed_windows

# // line comments and /* block */ comments (Motoko allows nesting; one level is enough here),
# strings kept so that "//" inside a string is not a comment.
_C_LIKE = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*(?:[^*]|\*(?!/))*\*/', re.DOTALL)


def same_words(old: str, new: str) -> bool:
    """True if the texts differ only in whitespace (indentation, line endings, blank lines)."""
    return old.split() == new.split()


def same_code_c_like(old: str, new: str) -> bool:
    """True if the texts differ only in // and /* */ comments and whitespace."""
    return _strip_comments(old).split() == _strip_comments(new).split()


def _strip_comments(source: str) -> str:
    return _C_LIKE.sub(lambda m: m.group(0) if m.group(0).startswith('"') else " ", source)


def classify_by_lines(
    old: bytes, new: bytes, limit: int, why: str | None = None
) -> tuple[ChangeClass, list[str]]:
    """The cheap analysis of a file not parsed (over ``limit`` bytes, or ``why``: another
    reason, said in the result): the changed lines (between the common prefix and suffix,
    in C) are whitespace-only (``formatting``) or anything else (``component-structure``,
    the class that promises no less than Vite does)."""
    (a_start, a_end), (b_start, b_end) = changed_windows(old, new)
    a_start = old.rfind(b"\n", 0, a_start) + 1
    b_start = new.rfind(b"\n", 0, b_start) + 1
    a_end, b_end = _line_end(old, a_end), _line_end(new, b_end)
    if old[a_start:a_end].split() == new[b_start:b_end].split():
        return ChangeClass.FORMATTING, ["only whitespace changed"]
    first = new.count(b"\n", 0, b_start) + 1
    last = first + new.count(b"\n", b_start, b_end)
    where = f"line {first}" if first == last else f"lines {first}-{last}"
    size = max(len(old), len(new)) // 1024
    why = why or f"a {size} KiB file, over the {limit // 1024} KiB analysis limit"
    reason = f"{where} changed ({why}: compared by lines, not parsed)"
    return ChangeClass.COMPONENT_STRUCTURE, [reason]


def _line_end(data: bytes, end: int) -> int:
    found = data.find(b"\n", end)
    return len(data) if found < 0 else found
