"""The session's files: held in memory as the source of truth, synced to a workspace on disk.

Changes happen in two steps. :meth:`VirtualFileSystem.plan` validates a whole
request and computes the result without side effects, so a rejected request
changes nothing. :meth:`VirtualFileSystem.apply` then writes only the files whose
content changed (atomically: temp file + rename, so Vite never reads half a
file) and rolls back what it wrote if the disk fails part-way.
"""

import errno
import os
import re
import secrets
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from kontext_preview.config import Settings
from kontext_preview.errors import InvalidFileName, InvalidRequest, LimitExceeded, SandboxError
from kontext_preview.workspace.paths import FORBIDDEN_SEGMENTS, check_inside, validate_name

ChangeEvent = Literal["add", "change", "unlink"]
_TEMP_FILE = re.compile(r"^\.kontext-[0-9a-f]{16}\.tmp$")


@dataclass(frozen=True)
class FileLimits:
    max_files: int
    max_file_bytes: int
    max_total_bytes: int
    max_path_length: int

    @classmethod
    def of(cls, settings: Settings) -> "FileLimits":
        """The limits a session's files have (KONTEXT_MAX_FILES, _MAX_FILE_BYTES,
        _MAX_SESSION_BYTES, _MAX_PATH_LENGTH)."""
        return cls(
            max_files=settings.max_files,
            max_file_bytes=settings.max_file_bytes,
            max_total_bytes=settings.max_session_bytes,
            max_path_length=settings.max_path_length,
        )


def check_request(
    limits: FileLimits, writes: Mapping[str, bytes], deletes: Iterable[str] = ()
) -> None:
    """What a request can break on its own, checked before it is stored anywhere (the
    distributed API does this before Redis): every name, each file's size, the files and
    bytes of the request itself, and no file where another needs a folder. The result
    on top of a session's files is checked where those files are (``plan``).

    Raises InvalidFileName, LimitExceeded or InvalidRequest, as ``plan`` does."""
    named = {
        validate_name(name, limits.max_path_length): content for name, content in writes.items()
    }
    for name in deletes:
        validate_name(name, limits.max_path_length)
    _check_limits(limits, named, named)
    _check_no_file_folder_clash(named)


@dataclass(frozen=True)
class FileChange:
    path: str
    event: ChangeEvent


@dataclass
class ChangeSet:
    """What a request would do: the resulting files and the changes that lead there."""

    files: dict[str, bytes]
    changes: list[FileChange] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def written(self) -> list[str]:
        return [c.path for c in self.changes if c.event != "unlink"]

    @property
    def deleted(self) -> list[str]:
        return [c.path for c in self.changes if c.event == "unlink"]


class VirtualFileSystem:
    def __init__(self, root: Path, limits: FileLimits):
        self.root = root
        self.limits = limits
        self.files: dict[str, bytes] = {}
        self.on_disk = False

    def plan(
        self,
        writes: Mapping[str, bytes],
        deletes: Iterable[str] = (),
        *,
        replace_all: bool = False,
        base: Mapping[str, bytes] | None = None,
    ) -> ChangeSet:
        """Validate a request and compute its result on top of ``base`` (default: the
        current files); nothing is changed."""
        base = self.files if base is None else base
        writes = {self._valid(name): content for name, content in writes.items()}
        delete_set = {self._valid(name) for name in deletes}
        if replace_all:
            delete_set |= base.keys() - writes.keys()
        for name in delete_set:
            if name in writes:
                raise InvalidRequest(f"file {name!r} is both written and deleted in one request")
            if name not in base:
                raise InvalidRequest(f"cannot delete {name!r}: the session has no such file")
        result = {k: v for k, v in base.items() if k not in delete_set} | writes
        _check_limits(self.limits, writes, result)
        _check_no_file_folder_clash(result)
        changes = [FileChange(name, "unlink") for name in sorted(delete_set)]
        unchanged = []
        for name, content in writes.items():
            old = base.get(name)
            if old == content:
                unchanged.append(name)
            else:
                changes.append(FileChange(name, "add" if old is None else "change"))
        if self.on_disk:
            for change in changes:
                check_inside(self.root, change.path)
        return ChangeSet(result, changes, unchanged)

    def diff(self, target: dict[str, bytes]) -> ChangeSet:
        """The changes from the current files to ``target`` (a planned result)."""
        changes = [FileChange(n, "unlink") for n in sorted(self.files.keys() - target.keys())]
        for name, content in target.items():
            old = self.files.get(name)
            if old is None:
                changes.append(FileChange(name, "add"))
            elif old != content:
                changes.append(FileChange(name, "change"))
        return ChangeSet(target, changes)

    def apply(self, change_set: ChangeSet) -> None:
        """Make ``change_set`` true in memory and, if synced, on disk."""
        if self.on_disk:
            self._write_changes(change_set.changes, change_set.files)
        self.files = change_set.files

    def sync_to_disk(self) -> list[FileChange]:
        """Make the workspace on disk hold exactly the session's files and return what that
        changed. A workspace left by an earlier process is reconciled, not replaced: a
        sandbox that still has it mounted keeps seeing it. Folders the sandbox manages
        (node_modules) are left alone; stray links and temp files are removed."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.on_disk = True
        found = self._files_on_disk()
        changes = [FileChange(name, "unlink") for name in sorted(found.keys() - self.files.keys())]
        for name, content in self.files.items():
            if name not in found:
                changes.append(FileChange(name, "add"))
            elif _read(found[name]) != content:
                changes.append(FileChange(name, "change"))
        self._write_changes(changes, self.files)
        return changes

    def _files_on_disk(self) -> dict[str, Path]:
        found = {}
        for folder, dirs, names in os.walk(self.root):
            here = Path(folder)
            for name in [*dirs, *names]:
                path = here / name
                if name in FORBIDDEN_SEGMENTS:
                    continue
                if path.is_symlink() or _TEMP_FILE.match(name):
                    path.unlink()
                elif name in names:
                    found[path.relative_to(self.root).as_posix()] = path
            dirs[:] = [d for d in dirs if d not in FORBIDDEN_SEGMENTS and _is_folder(here / d)]
        return found

    def _valid(self, name: str) -> str:
        return validate_name(name, self.limits.max_path_length)

    def _write_changes(self, changes: list[FileChange], files: Mapping[str, bytes]) -> None:
        done: list[FileChange] = []
        try:
            for change in changes:
                target = check_inside(self.root, change.path)
                if change.event == "unlink":
                    target.unlink(missing_ok=True)
                else:
                    _write(target, files[change.path])
                done.append(change)
        except OSError as exc:
            self._roll_back(done)
            raise SandboxError(f"could not write the project to disk: {exc}") from exc

    def _roll_back(self, done: list[FileChange]) -> None:
        for change in reversed(done):
            target = self.root / change.path
            old = self.files.get(change.path)
            try:
                if old is None:
                    target.unlink(missing_ok=True)
                else:
                    _write(target, old)
            except OSError:
                pass


def _is_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _write(target: Path, content: bytes) -> None:
    """Write a file of the workspace. An existing file is overwritten in place: on ext4 a
    rename over a file (or a truncation to zero) first forces its data to disk, 0.3-0.6 ms
    on every update, and the dev server reads a file only once it is told it changed. A
    new file, or one that is not a plain file with one link (a hard link planted to reach
    a file elsewhere), gets a new file renamed into place."""
    try:
        fd = os.open(target, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, IsADirectoryError):
        _atomic_write(target, content)
        return
    except OSError as exc:
        if exc.errno != errno.ELOOP:  # a symlink in the file's place: replaced below
            raise
        _atomic_write(target, content)
        return
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
            view, done = memoryview(content), 0
            while done < len(content):
                done += os.pwrite(fd, view[done:], done)
            os.ftruncate(fd, len(content))
            return
    finally:
        os.close(fd)
    _atomic_write(target, content)


def _atomic_write(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".kontext-{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _check_limits(
    limits: FileLimits, writes: Mapping[str, bytes], result: Mapping[str, bytes]
) -> None:
    for name, content in writes.items():
        if len(content) > limits.max_file_bytes:
            raise LimitExceeded(
                f"file {name!r} is {len(content)} bytes; the limit is {limits.max_file_bytes}"
            )
    if len(result) > limits.max_files:
        raise LimitExceeded(
            f"the project would have {len(result)} files; the limit is {limits.max_files}"
        )
    total = sum(len(c) for c in result.values())
    if total > limits.max_total_bytes:
        raise LimitExceeded(
            f"the project would hold {total} bytes; the limit is {limits.max_total_bytes}"
        )


def _check_no_file_folder_clash(files: Mapping[str, bytes]) -> None:
    for name in files:
        parts = name.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in files:
                raise InvalidFileName(
                    f"file name {name!r} needs {folder!r} to be a folder, but it is a file"
                )
