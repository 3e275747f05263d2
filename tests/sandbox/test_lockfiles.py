"""Installs with the lockfile the project came with, on both backends (issue 30).

Each lockfile in tests/fixtures/lockfiles was written by its own manager (npm 10, Yarn
1.22.22, pnpm 10.34.9, bun 1.4.5) for ``is-odd@3.0.0`` and Vite 8.3.8, then its spec for
is-odd widened to ``^3.0.0`` (in the lockfile and in package.json): the registry's newest in
that range is 3.0.1, so a 3.0.0 in node_modules is the lockfile honoured. Nothing may be
written into the project (the read-only workspace of a Docker sandbox made npm fail on a
yarn.lock before). Layouts the local backend accepts (npm workspaces with the app in a
folder, ``file:`` packages inside the project) install in a container too, and
mdn/todo-react (a yarn.lock) starts at HEAD.
"""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compat.test_icp_ninja import CONFIG, ninja
from tests.conftest import create_session, session_dir
from tests.project import FIXTURES, project_files
from tests.replay.history import History, as_request_files
from tests.server import ApiServer

pytestmark = [pytest.mark.vite, pytest.mark.network]

LOCKFILES = FIXTURES / "lockfiles"
PACKAGE = {
    "name": "lockfile-app",
    "private": True,
    "type": "module",
    "dependencies": {"is-odd": "^3.0.0"},
    "devDependencies": {"vite": "8.3.8"},
}
INDEX = '<div id="app"></div><script type="module" src="/main.js"></script>\n'
MAIN = (
    'import isOdd from "is-odd";\n'
    'document.querySelector("#app").textContent = `odd: ${isOdd(3)}`;\n'
)
MANAGERS = {
    "package-lock.json": "npm",
    "yarn.lock": "yarn",
    "pnpm-lock.yaml": "pnpm",
    "bun.lock": "bun",
}


def lockfile_project(lockfile: str, package: dict[str, Any] = PACKAGE) -> list[dict[str, Any]]:
    files = {
        "index.html": INDEX,
        "main.js": MAIN,
        "package.json": json.dumps(package, indent=2) + "\n",
        lockfile: (LOCKFILES / lockfile).read_text(),
    }
    return [{"name": name, "content": content} for name, content in files.items()]


def installed_version(server: ApiServer, sid: str, package: str) -> str:
    """The version of ``package`` the dev server resolves: its package.json, as Vite serves
    it (a module) from the node_modules the sandbox sees."""
    response = server.preview_get(sid, f"/node_modules/{package}/package.json")
    assert response.status_code == 200, response.text[:300]
    text = response.text.replace("\\", "").replace(" ", "")
    versions = [v for v in ("3.0.0", "3.0.1", "1.0.0") if f'version":"{v}"' in text]
    assert len(versions) == 1, text[:500]
    return versions[0]


def workspace_files(server: ApiServer, sid: str) -> dict[str, bytes]:
    """The project's files as the session's workspace holds them (node_modules left out)."""
    workspace = session_dir(server, sid) / "workspace"
    return {
        path.relative_to(workspace).as_posix(): path.read_bytes()
        for path in workspace.rglob("*")
        if path.is_file() and "node_modules" not in path.relative_to(workspace).parts
    }


def logs_of(api: httpx.Client, sid: str) -> list[str]:
    logs: list[str] = api.get(f"/kontext/preview/{sid}").json()["logs"]
    return logs


def started(api: httpx.Client, files: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """A session of ``files`` that started (its status and its log)."""
    session = create_session(api, files)
    logs = logs_of(api, session["sessionId"])
    assert session["status"] == "active", (session.get("error"), logs[-15:])
    return session, logs


@pytest.mark.parametrize("lockfile", list(MANAGERS))
def test_the_lockfile_s_versions_are_installed_by_its_manager_and_nothing_is_written(
    server: ApiServer, api: httpx.Client, lockfile: str
) -> None:
    files = lockfile_project(lockfile)
    session, logs = started(api, files)
    sid = session["sessionId"]
    manager = MANAGERS[lockfile]
    assert any(f"with {manager} from {lockfile}" in line for line in logs), logs
    # The pinned 3.0.0, not the range's newest (3.0.1).
    assert installed_version(server, sid, "is-odd") == "3.0.0", logs[-10:]
    assert session["warnings"] == [], session["warnings"]
    # Nothing written into the project: the same files, the lockfile byte for byte.
    sent = {f["name"]: f["content"].encode() for f in files}
    assert workspace_files(server, sid) == sent
    main = server.preview_get(sid, "/main.js")
    assert main.status_code == 200 and "is-odd" in main.text
    api.delete(f"/kontext/preview/{sid}")


def test_a_lockfile_that_lacks_a_dependency_is_followed_for_the_rest_and_said(
    server: ApiServer, api: httpx.Client
) -> None:
    """package.json asks for a package the yarn.lock does not hold: Yarn resolves it and keeps
    every other pin, as it would on a developer's machine; the session says so."""
    package = {**PACKAGE, "dependencies": {"is-odd": "^3.0.0", "is-even": "1.0.0"}}
    files = lockfile_project("yarn.lock", package)
    session, _ = started(api, files)
    sid = session["sessionId"]
    assert installed_version(server, sid, "is-odd") == "3.0.0"
    assert installed_version(server, sid, "is-even") == "1.0.0"
    (warning,) = session["warnings"]
    assert "yarn.lock does not hold what package.json asks for" in warning, warning
    sent = {f["name"]: f["content"].encode() for f in files}
    assert workspace_files(server, sid) == sent  # its copy was updated, not the project's
    api.delete(f"/kontext/preview/{sid}")


def test_an_npm_workspaces_project_with_the_app_in_a_folder_installs_at_its_root(
    backend: str, server: ApiServer, api: httpx.Client
) -> None:
    """ICP Ninja's layout: workspaces at the root, the app in frontend/ pinned to Vite
    5.4.11 (a container used to fail with ENOENT: node_modules was mounted only at the
    app's folder). npm installs at the root, as it does, and links the workspace."""
    session, logs = started(api, ninja(CONFIG))
    sid = session["sessionId"]
    assert any("Vite 5.4.11 ready" in line for line in logs), logs
    assert any("declares workspaces; they are installed there" in line for line in logs), logs
    folder = session_dir(server, sid)
    # Where the root's node_modules is kept: the workspace's own, or mounted from deps/.
    root = folder / ("deps" if backend == "docker" else "workspace") / "node_modules"
    assert json.loads((root / "vite" / "package.json").read_text())["version"] == "5.4.11"
    assert (root / "frontend").is_symlink()  # the workspace member, linked
    page = server.preview_get(sid, "/src/main.jsx")
    assert page.status_code == 200 and "Ninja" in page.text
    api.delete(f"/kontext/preview/{sid}")


def test_a_file_dependency_inside_the_project_installs(
    server: ApiServer, api: httpx.Client
) -> None:
    files = project_files("local-dep-app")
    session, _ = started(api, files)
    sid = session["sessionId"]
    sent = {f["name"]: f["content"].encode() for f in files}
    assert workspace_files(server, sid) == sent
    api.delete(f"/kontext/preview/{sid}")


def test_mdn_todo_react_starts_at_head_with_its_yarn_lock(
    request: pytest.FixtureRequest, server: ApiServer, api: httpx.Client
) -> None:
    history = History("mdn/todo-react", steps=0)
    if not Path(history.git_dir).exists():
        pytest.skip(
            f"{history.repo} is not at {history.git_dir}: bring it with the library's fetch"
        )
    (head,) = history.commits()
    files = as_request_files(history.tree(head))
    assert any(f["name"] == "yarn.lock" for f in files)
    session, logs = started(api, files)
    sid = session["sessionId"]
    assert any("with yarn from yarn.lock" in line for line in logs), logs
    page = server.preview_get(sid, "/")
    if page.status_code == 302:  # its vite.config's base: /todo-react/
        page = server.preview_get(sid, httpx.URL(page.headers["location"]).path)
    assert page.status_code == 200 and 'id="root"' in page.text, page.text[:300]
    sent = {f["name"]: f["content"] for f in files}
    assert workspace_files(server, sid)["yarn.lock"].decode() == sent["yarn.lock"]
    api.delete(f"/kontext/preview/{sid}")
