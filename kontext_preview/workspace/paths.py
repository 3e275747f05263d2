"""File names from the AI are untrusted: validate them before they touch the disk."""

import os
import re
import stat
from pathlib import Path

from kontext_preview.errors import InvalidFileName

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
FORBIDDEN_SEGMENTS = frozenset({"node_modules", ".git"})
MAX_SEGMENT_LENGTH = 255


def validate_name(name: str, max_length: int) -> str:
    """Return ``name`` as a normalized relative POSIX path, or raise InvalidFileName.

    A leading ``./`` is accepted and dropped; everything else that could mean
    something other than "a file under the workspace" is refused.
    """
    if not name:
        raise InvalidFileName("file name is empty")
    shown = repr(name[:120])
    if _CONTROL.search(name):
        raise InvalidFileName(f"file name {shown} contains a NUL or control character")
    if "\\" in name:
        raise InvalidFileName(f"file name {shown} contains a backslash; use '/' between folders")
    if len(name) > max_length:
        raise InvalidFileName(f"file name {shown} is longer than {max_length} characters")
    if name.startswith("/") or _DRIVE.match(name):
        raise InvalidFileName(f"file name {shown} is absolute; names are relative to the project")
    while name.startswith("./"):
        name = name[2:]
    segments = name.split("/")
    for segment in segments:
        _check_segment(segment, shown)
    return "/".join(segments)


def _check_segment(segment: str, shown: str) -> None:
    if segment in ("", "."):
        raise InvalidFileName(f"file name {shown} has an empty or '.' path segment")
    if segment == "..":
        raise InvalidFileName(f"file name {shown} contains '..'; names may not leave the project")
    if segment in FORBIDDEN_SEGMENTS:
        raise InvalidFileName(
            f"file name {shown} is inside {segment}/, which the preview manages itself"
        )
    if len(segment) > MAX_SEGMENT_LENGTH:
        raise InvalidFileName(
            f"file name {shown} has a segment over {MAX_SEGMENT_LENGTH} characters"
        )


def check_inside(root: Path, name: str) -> Path:
    """Return the absolute path of ``name`` under ``root`` if writing it stays inside.

    Every existing component is checked with lstat: a symlink anywhere on the
    way, or a file where a folder is needed, is refused. ``name`` must already be
    validated with :func:`validate_name`.
    """
    current = root
    parts = name.split("/")
    for index, part in enumerate(parts):
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            break
        if stat.S_ISLNK(mode):
            raise InvalidFileName(f"file name {name!r} passes through a symbolic link")
        is_last = index == len(parts) - 1
        if not is_last and not stat.S_ISDIR(mode):
            raise InvalidFileName(f"file name {name!r} needs a folder where a file already is")
        if is_last and stat.S_ISDIR(mode):
            raise InvalidFileName(f"file name {name!r} is a folder in the project")
    target = root / name
    real_root = os.path.realpath(root)
    if not os.path.realpath(target).startswith(real_root + os.sep):
        raise InvalidFileName(f"file name {name!r} resolves outside the project")
    return target
