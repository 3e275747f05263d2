import os
from pathlib import Path

import pytest
from pyfakefs.fake_filesystem import FakeFilesystem

from kontext_preview.errors import InvalidFileName
from kontext_preview.workspace.paths import check_inside, validate_name

ROOT = Path("/srv/session/workspace")


@pytest.mark.parametrize(
    "name",
    [
        "index.html",
        "src/App.tsx",
        "src/frontend/src/App.tsx",
        "public/favicon.ico",
        ".env",
        "a b/c d.tsx",
        "ünïcode/名前.tsx",
        ".github/workflows/ci.yml",
    ],
)
def test_ordinary_names_are_accepted(name: str) -> None:
    assert validate_name(name, 512) == name


def test_a_leading_dot_slash_is_dropped() -> None:
    assert validate_name("./src/App.tsx", 512) == "src/App.tsx"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("/etc/passwd", "absolute"),
        ("C:/Windows/win.ini", "absolute"),
        ("../outside.js", "'..'"),
        ("src/../../outside.js", "'..'"),
        ("src\\App.tsx", "backslash"),
        ("src/App\x00.tsx", "control character"),
        ("src/App\n.tsx", "control character"),
        ("src/\x7f.tsx", "control character"),
        ("node_modules/react/index.js", "node_modules/"),
        ("src/frontend/node_modules/x.js", "node_modules/"),
        (".git/config", ".git/"),
        ("src//App.tsx", "empty or '.'"),
        ("src/./App.tsx", "empty or '.'"),
        ("src/", "empty or '.'"),
        ("a" * 600, "longer than"),
        ("src/" + "b" * 300 + ".tsx", "over 255"),
    ],
)
def test_dangerous_names_are_refused_with_a_reason(name: str, reason: str) -> None:
    with pytest.raises(InvalidFileName) as info:
        validate_name(name, 512)
    assert reason in info.value.message
    assert info.value.status_code == 400


def test_paths_inside_the_workspace_are_allowed(fs: FakeFilesystem) -> None:
    fs.create_file(ROOT / "src" / "App.tsx")
    assert check_inside(ROOT, "src/App.tsx") == ROOT / "src" / "App.tsx"
    assert check_inside(ROOT, "src/new/Deep.tsx") == ROOT / "src" / "new" / "Deep.tsx"


def test_a_symlinked_folder_cannot_be_written_through(fs: FakeFilesystem) -> None:
    fs.create_dir("/etc/secrets")
    fs.create_dir(ROOT)
    os.symlink("/etc/secrets", ROOT / "src")
    with pytest.raises(InvalidFileName, match="symbolic link"):
        check_inside(ROOT, "src/App.tsx")


def test_a_symlinked_file_cannot_be_overwritten(fs: FakeFilesystem) -> None:
    fs.create_file("/home/user/.bashrc")
    fs.create_dir(ROOT)
    os.symlink("/home/user/.bashrc", ROOT / "index.html")
    with pytest.raises(InvalidFileName, match="symbolic link"):
        check_inside(ROOT, "index.html")


def test_a_symlink_inside_the_workspace_is_refused_too(fs: FakeFilesystem) -> None:
    fs.create_dir(ROOT / "real")
    os.symlink(ROOT / "real", ROOT / "alias")
    with pytest.raises(InvalidFileName, match="symbolic link"):
        check_inside(ROOT, "alias/App.tsx")


def test_a_file_where_a_folder_is_needed_is_refused(fs: FakeFilesystem) -> None:
    fs.create_file(ROOT / "src")
    with pytest.raises(InvalidFileName, match="folder where a file already is"):
        check_inside(ROOT, "src/App.tsx")


def test_a_folder_cannot_be_replaced_by_a_file(fs: FakeFilesystem) -> None:
    fs.create_dir(ROOT / "src")
    with pytest.raises(InvalidFileName, match="is a folder"):
        check_inside(ROOT, "src")


def test_a_workspace_reached_through_a_symlink_still_works(fs: FakeFilesystem) -> None:
    fs.create_dir("/data/real-workspace")
    fs.create_dir("/srv/session")
    os.symlink("/data/real-workspace", ROOT)
    assert check_inside(ROOT, "src/App.tsx") == ROOT / "src" / "App.tsx"
