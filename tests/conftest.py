import copy
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kontext_preview.inspector import CHROMIUM_ARGS as INSPECTOR_CHROMIUM_ARGS
from tests.project import project_files
from tests.sandboxes import BACKEND_PARAMS, leftover_containers
from tests.server import ApiServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", *INSPECTOR_CHROMIUM_ARGS]  # the service's own, headless


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """One real API server (embedded defaults) shared by the tests that need no special settings."""
    # A loaded CI machine may take a while to acknowledge; the tests wait for the ack.
    srv = ApiServer.start(tmp_path_factory.mktemp("data"), browser_ack_timeout_seconds=30)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def server(embedded_server: ApiServer) -> ApiServer:
    return embedded_server


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each sandbox backend in turn (the Docker one marked `docker`)."""
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def backend_server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """The shared embedded server for the local backend, a server of its own for Docker."""
    if backend == "local":
        yield request.getfixturevalue("embedded_server")
        return
    srv = ApiServer.start(
        tmp_path_factory.mktemp(backend), sandbox_backend=backend, browser_ack_timeout_seconds=30
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def api(server: ApiServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    """The session's one Playwright (sync API): a second one in the same thread is refused
    ("Sync API inside the asyncio loop"), so every browser a test needs is launched from this."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright: Any) -> Iterator[Any]:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def files() -> list[dict[str, Any]]:
    """The React + Vite test project (Kontext layout: the app in src/frontend/)."""
    return project_files()


def create_session(api: httpx.Client, files: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    response = api.post("/kontext/preview", params={"wait": "true"}, json={"files": files, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def push(api: httpx.Client, session_id: str, name: str, content: str) -> dict[str, Any]:
    """Send one changed file; the update's answer."""
    response = api.post(
        f"/kontext/preview/{session_id}/update",
        json={"files": [{"name": name, "content": content}]},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def replace_file(files: list[dict[str, Any]], name: str, content: str) -> list[dict[str, Any]]:
    changed = copy.deepcopy(files)
    for entry in changed:
        if entry["name"] == name:
            entry["content"] = content
            return changed
    changed.append({"name": name, "content": content})
    return changed


def with_dependency(files: list[dict[str, Any]], name: str, version: str) -> list[dict[str, Any]]:
    path = "src/frontend/package.json"
    package = json.loads(next(f["content"] for f in files if f["name"] == path))
    package["dependencies"][name] = version
    return replace_file(files, path, json.dumps(package, indent=2))


def session_dir(server: ApiServer, session_id: str) -> Path:
    return server.data_dir / "sessions" / session_id


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the whole suite (every server stopped): no dev server, build or deploy command,
    no session workspace or published site, no Redis key of a test session is left."""
    yield
    import redis

    base = str(tmp_path_factory.getbasetemp())
    leftovers = [
        f"process {pid}: {cmdline[:200]!r}"
        for pid, cmdline, cwd in _processes()
        if base.encode() in cmdline or cwd.startswith(base)
    ]
    for parent in Path(base).rglob("*"):
        if parent.is_dir() and parent.name in ("sessions", "deployments"):
            leftovers += [f"directory {entry}" for entry in parent.iterdir()]
    client = redis.Redis.from_url("redis://127.0.0.1:6379/13")
    leftovers += [f"redis key {k!r}" for k in client.scan_iter("kp-test-*")]
    leftovers += leftover_containers(base)
    assert not leftovers, "left behind:\n" + "\n".join(leftovers)


def _processes() -> Iterator[tuple[int, bytes, str]]:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            yield int(entry.name), cmdline, cwd
