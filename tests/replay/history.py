"""Public projects' real commit histories as update sequences (issue 18, point 4).

A history is read from a git directory that the search library's ``fetch`` brought to
``/work/.mirror/<owner>+<name>/repo`` (``KONTEXT_REPLAY_MIRRORS`` names another folder
of such copies). Nothing of those projects is kept in this repository: each step's files
are read from git (``git ls-tree``, ``git cat-file``) when the test runs.
"""

import base64
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIRRORS = Path(os.environ.get("KONTEXT_REPLAY_MIRRORS", "/work/.mirror"))
MAX_FILE_BYTES = 1024 * 1024  # larger files (videos, archives) are left out of a step


@dataclass(frozen=True)
class History:
    repo: str  # owner/name on GitHub
    steps: int  # updates after the first commit replayed
    skip: tuple[str, ...] = ()  # path prefixes left out (native shells, build output)
    # The commit the session starts from: its number on the first-parent line, the root's
    # being 1; None: the last ``steps + 1`` commits.
    first: int | None = None
    builder: str = ""  # who wrote it (Lovable, bolt.new, Dyad, a person)
    shows: str = ""  # what the window holds that the replay is for

    @property
    def git_dir(self) -> Path:
        return MIRRORS / self.repo.replace("/", "+") / "repo"

    @property
    def name(self) -> str:
        return self.repo.split("/")[1]

    def commits(self) -> list[str]:
        """The window's ``steps + 1`` commits of the first-parent line, oldest first."""
        out = _git(self.git_dir, "rev-list", "--first-parent", "--reverse", "HEAD")
        line = out.decode().split()
        start = len(line) - self.steps - 1 if self.first is None else self.first - 1
        window = line[start : start + self.steps + 1]
        assert len(window) == self.steps + 1, f"{self.repo} has {len(line)} commits"
        return window

    def subject(self, commit: str) -> str:
        return _git(self.git_dir, "log", "-1", "--format=%s", commit).decode().strip()

    def tree(self, commit: str) -> dict[str, bytes]:
        """path → content of the files of ``commit`` (without skipped, large or missing
        ones, nor empty files: the API takes none)."""
        listing = _git(
            self.git_dir, "ls-tree", "-r", "-z", "--format=%(objectname) %(path)", commit
        )
        entries = [line.split(" ", 1) for line in listing.decode().split("\0") if line]
        wanted = [(oid, path) for oid, path in entries if not path.startswith(self.skip)]
        blobs = _blobs(self.git_dir, [oid for oid, _ in wanted])
        return {path: blob for (_, path), blob in zip(wanted, blobs, strict=True) if blob}

    def steps_of(self) -> Iterator[tuple[str, dict[str, bytes], dict[str, bytes]]]:
        """(commit, files before, files after) for each replayed step."""
        commits = self.commits()
        before = self.tree(commits[0])
        for commit in commits[1:]:
            after = self.tree(commit)
            yield commit, before, after
            before = after


def as_request_files(files: dict[str, bytes]) -> list[dict[str, Any]]:
    """The API's file list: UTF-8 text as it is, anything else base64."""
    out = []
    for name, data in sorted(files.items()):
        try:
            out.append({"name": name, "content": data.decode("utf-8")})
        except UnicodeDecodeError:
            out.append(
                {"name": name, "content": base64.b64encode(data).decode(), "encoding": "base64"}
            )
    return out


def _blobs(git_dir: Path, oids: list[str]) -> list[bytes | None]:
    """The blobs' contents, read in one ``git cat-file --batch``; None for one that is too
    large (MAX_FILE_BYTES) or missing from the copy."""
    out = _git(git_dir, "cat-file", "--batch", stdin="\n".join(oids).encode() + b"\n")
    blobs: list[bytes | None] = []
    at = 0
    for _ in oids:
        header_end = out.index(b"\n", at)
        header = out[at:header_end].split()
        if header[1] == b"missing":  # a copy may lack its largest blobs
            blobs.append(None)
            at = header_end + 1
            continue
        size = int(header[2])
        body = out[header_end + 1 : header_end + 1 + size]
        blobs.append(body if size <= MAX_FILE_BYTES else None)
        at = header_end + 1 + size + 1
    return blobs


def _git(git_dir: Path, *args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], input=stdin, capture_output=True, check=True
    ).stdout
