import os
from pathlib import Path

import pytest
from pyfakefs.fake_filesystem import FakeFilesystem

from kontext_preview.errors import InvalidFileName, InvalidRequest, LimitExceeded, SandboxError
from kontext_preview.workspace.vfs import FileChange, FileLimits, VirtualFileSystem

LIMITS = FileLimits(max_files=5, max_file_bytes=100, max_total_bytes=250, max_path_length=300)


def synced(tmp_path: Path, files: dict[str, bytes]) -> VirtualFileSystem:
    vfs = VirtualFileSystem(tmp_path / "workspace", LIMITS)
    vfs.apply(vfs.plan(files))
    vfs.sync_to_disk()
    return vfs


def test_files_are_synced_to_disk(tmp_path: Path) -> None:
    vfs = synced(tmp_path, {"index.html": b"<html>", "src/App.tsx": b"app", "img.png": b"\x89\x00"})
    assert (vfs.root / "src" / "App.tsx").read_bytes() == b"app"
    assert (vfs.root / "img.png").read_bytes() == b"\x89\x00"


def test_only_changed_files_are_written(tmp_path: Path) -> None:
    vfs = synced(tmp_path, {"a.js": b"a", "b.js": b"b"})
    before = os.stat(vfs.root / "b.js").st_ino
    change_set = vfs.plan({"a.js": b"a2", "b.js": b"b", "c.js": b"c"})
    assert change_set.changes == [FileChange("a.js", "change"), FileChange("c.js", "add")]
    assert change_set.unchanged == ["b.js"]
    vfs.apply(change_set)
    assert os.stat(vfs.root / "b.js").st_ino == before  # untouched: same inode
    assert (vfs.root / "a.js").read_bytes() == b"a2"
    assert vfs.files == {"a.js": b"a2", "b.js": b"b", "c.js": b"c"}


def test_deletes_remove_files(tmp_path: Path) -> None:
    vfs = synced(tmp_path, {"a.js": b"a", "b.js": b"b"})
    vfs.apply(vfs.plan({}, ["b.js"]))
    assert not (vfs.root / "b.js").exists()
    assert vfs.files == {"a.js": b"a"}


def test_replace_all_deletes_what_is_not_sent(tmp_path: Path) -> None:
    vfs = synced(tmp_path, {"a.js": b"a", "b.js": b"b"})
    change_set = vfs.plan({"a.js": b"a"}, replace_all=True)
    assert change_set.deleted == ["b.js"]


@pytest.mark.parametrize(
    ("writes", "deletes", "error", "message"),
    [
        ({"ok.js": b"x", "../evil.js": b"x"}, [], InvalidFileName, "'..'"),
        ({"big.js": b"x" * 101}, [], LimitExceeded, "'big.js' is 101 bytes"),
        ({f"f{i}.js": b"x" for i in range(6)}, [], LimitExceeded, "would have 7 files"),
        ({"f1.js": b"x" * 90, "f2.js": b"x" * 90, "f3.js": b"x" * 90}, [], LimitExceeded, "bytes"),
        ({"a.js/inner.js": b"x"}, [], InvalidFileName, "'a.js' to be a folder"),
        ({}, ["missing.js"], InvalidRequest, "no such file"),
        ({"a.js": b"new"}, ["a.js"], InvalidRequest, "both written and deleted"),
    ],
)
def test_a_rejected_request_changes_nothing(
    tmp_path: Path,
    writes: dict[str, bytes],
    deletes: list[str],
    error: type[Exception],
    message: str,
) -> None:
    vfs = synced(tmp_path, {"a.js": b"a"})
    before = dict(vfs.files)
    with pytest.raises(error, match=message):
        vfs.plan(writes, deletes)
    assert vfs.files == before
    assert sorted(p.name for p in vfs.root.rglob("*")) == ["a.js"]


def test_a_full_disk_rolls_back_what_was_written(fs: FakeFilesystem) -> None:
    vfs = synced(Path("/data"), {"a.js": b"a"})
    fs.set_disk_usage(fs.get_disk_usage().used + 10)  # room for "a2", not for 50 bytes more
    change_set = vfs.plan({"a.js": b"a2", "z.js": b"z" * 50})
    with pytest.raises(SandboxError, match="could not write"):
        vfs.apply(change_set)
    assert (vfs.root / "a.js").read_bytes() == b"a"
    assert not (vfs.root / "z.js").exists()
    assert vfs.files == {"a.js": b"a"}


def test_the_longest_allowed_name_can_be_written(tmp_path: Path) -> None:
    name = "src/" + "n" * 250 + ".js"
    vfs = synced(tmp_path, {name: b"x"})
    assert (vfs.root / name).read_bytes() == b"x"


def test_writes_never_follow_a_symlink_planted_in_the_workspace(tmp_path: Path) -> None:
    vfs = synced(tmp_path, {"a.js": b"a"})
    outside = tmp_path / "outside"
    outside.mkdir()
    (vfs.root / "src").symlink_to(outside)
    with pytest.raises(InvalidFileName, match="symbolic link"):
        vfs.plan({"src/evil.js": b"x"})
    assert list(outside.iterdir()) == []


def test_a_file_is_overwritten_in_place_shorter_or_longer(tmp_path: Path) -> None:
    vfs = synced(tmp_path, {"src/a.js": b"a long first version"})
    inode = (vfs.root / "src/a.js").stat().st_ino
    vfs.apply(vfs.plan({"src/a.js": b"short"}))
    assert (vfs.root / "src/a.js").read_bytes() == b"short"
    vfs.apply(vfs.plan({"src/a.js": b"longer than both before it"}))
    assert (vfs.root / "src/a.js").read_bytes() == b"longer than both before it"
    assert (vfs.root / "src/a.js").stat().st_ino == inode  # no new file per update
    assert [p.name for p in (vfs.root / "src").iterdir()] == ["a.js"]  # no temp file left


@pytest.mark.parametrize("link", ["hard", "symbolic"])
def test_a_link_planted_in_a_files_place_is_never_written_through(
    tmp_path: Path, link: str
) -> None:
    """A project's own code (a local sandbox's vite.config) can swap a workspace file for a
    link to a file elsewhere: a hard link is replaced by the next write, a symbolic link
    refused; the file elsewhere is left alone."""
    vfs = synced(tmp_path, {"src/a.js": b"a"})
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"secret")
    written = vfs.root / "src/a.js"
    written.unlink()
    if link == "hard":
        os.link(outside, written)
        vfs.apply(vfs.plan({"src/a.js": b"new"}))
        assert written.stat().st_nlink == 1 and written.read_bytes() == b"new"
    else:
        written.symlink_to(outside)
        with pytest.raises(InvalidFileName, match="symbolic link"):
            vfs.plan({"src/a.js": b"new"})
    assert outside.read_bytes() == b"secret"


def test_files_stay_in_memory_until_the_first_sync(tmp_path: Path) -> None:
    """A session's files are checked and kept in memory when it is created; its launch
    writes them (the engine's create does not wait for the disk)."""
    vfs = VirtualFileSystem(tmp_path / "workspace", LIMITS)
    vfs.apply(vfs.plan({"a.js": b"a"}))
    vfs.apply(vfs.plan({"b.js": b"b"}))
    assert not vfs.root.exists() and not vfs.on_disk
    vfs.sync_to_disk()
    assert sorted(p.name for p in vfs.root.iterdir()) == ["a.js", "b.js"]


def test_a_workspace_left_on_disk_is_reconciled_not_replaced(tmp_path: Path) -> None:
    """A restarted worker brings an existing workspace back to the committed files: what
    differs is rewritten, what is not a file of the session goes, the folder itself (which
    a running container may have mounted) and node_modules stay."""
    old = synced(tmp_path, {"a.js": b"a", "b.js": b"b", "src/c.js": b"c"})
    root = old.root
    folder_inode = os.stat(root).st_ino
    (root / "node_modules").mkdir()
    (root / "node_modules" / "x.js").write_bytes(b"dep")
    (root / "src" / "stray-link").symlink_to("/etc")
    (root / ".kontext-0123456789abcdef.tmp").write_bytes(b"half")
    unchanged_inode = os.stat(root / "a.js").st_ino

    new = VirtualFileSystem(root, LIMITS)
    new.apply(new.plan({"a.js": b"a", "b.js": b"b2", "d.js": b"d"}))
    changes = new.sync_to_disk()

    assert changes == [
        FileChange("src/c.js", "unlink"),
        FileChange("b.js", "change"),
        FileChange("d.js", "add"),
    ]
    assert os.stat(root).st_ino == folder_inode
    assert os.stat(root / "a.js").st_ino == unchanged_inode
    assert (root / "b.js").read_bytes() == b"b2"
    assert not (root / "src" / "c.js").exists()
    assert not (root / "src" / "stray-link").is_symlink()
    assert not (root / ".kontext-0123456789abcdef.tmp").exists()
    assert (root / "node_modules" / "x.js").read_bytes() == b"dep"
    assert new.sync_to_disk() == []  # nothing left to do
