"""Plain-text comparisons: whitespace-only and comment-only changes."""

import re

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
