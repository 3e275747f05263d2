"""The whole slice in headless Chromium, through the API and the preview proxy, in both
modes: embedded (one process) and distributed (the API in front of a Celery worker)."""

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import create_session, push, session_dir
from tests.distributed.cluster import Cluster, read_events
from tests.server import ApiServer, agent_pids, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.vite]

HEADER = "src/frontend/src/Header.tsx"
CSS = "src/frontend/src/index.css"


def header(text: str) -> str:
    return f'export default function Header() {{\n  return <h1 id="title">{text}</h1>;\n}}\n'


@pytest.fixture(scope="module", params=["embedded", "distributed"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """The API a user talks to; in distributed mode its sessions live on worker n1, which
    shares the API's data directory so the tests can look at the files."""
    if request.param == "embedded":
        yield request.getfixturevalue("embedded_server")
        return
    cluster = Cluster.start(
        tmp_path_factory.mktemp("e2e-cluster"), ("n1",), browser_ack_timeout_seconds=30
    )
    yield cluster.api
    cluster.stop()


@pytest.fixture(scope="module")
def api(server: ApiServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def applied_event(server: ApiServer, session_id: str, update_id: str) -> dict[str, Any]:
    events = read_events(
        server.base_url,
        session_id,
        until=lambda e: e.type == "update.applied" and e.data["updateId"] == update_id,
    )
    assert events[-1].type == "update.applied", [e.type for e in events]
    return events[-1].data


def open_preview(
    server: ApiServer, api: httpx.Client, browser: Any, files: list[dict[str, Any]]
) -> tuple[str, Any]:
    sid = create_session(api, files)["sessionId"]
    page = browser.new_page()
    page.goto(f"http://preview-{sid}.localhost:{server.port}/")
    page.wait_for_selector("#title")
    return sid, page


def test_create_update_and_delete_in_a_real_browser(
    server: ApiServer, api: httpx.Client, browser: Any, files: list[dict[str, Any]]
) -> None:
    session = create_session(api, files, projectType="icpstudio")
    sid = session["sessionId"]
    assert session["status"] == "active", session
    assert session["previewUrl"] == f"http://preview-{sid}.localhost:{server.port}/"
    assert session["wsUrl"] == f"ws://preview-{sid}.localhost:{server.port}/hmr"
    assert session["expiresAt"] > time.time() + 23 * 3600

    page = browser.new_page()
    page.goto(session["previewUrl"])
    page.wait_for_selector("#title")
    assert page.inner_text("#title") == "Hello from Kontext"
    page.evaluate("window.__kontextMarker = 'before-update'")

    # A component edit reaches the page by HMR: the DOM changes, the page is not reloaded.
    result = push(api, sid, HEADER, header("Make the header blue"))
    assert result["updated"] == [HEADER] and result["hmrTriggered"] is True
    page.wait_for_function(
        "document.querySelector('#title').textContent === 'Make the header blue'"
    )
    assert page.evaluate("window.__kontextMarker") == "before-update"
    # The page acknowledged the update: the SSE stream has the true end-to-end latency.
    applied = applied_event(server, sid, result["updateId"])
    assert applied["browserAck"] == "update", applied
    assert 0 < applied["browserAppliedMs"] < 30_000
    assert set(applied["timings"]) >= {"analyzeMs", "writeMs", "notifyMs"}

    # A CSS edit changes the computed style, still without a reload.
    css = push(api, sid, CSS, "#title {\n  color: rgb(0, 0, 255);\n}\n")
    page.wait_for_function(
        "getComputedStyle(document.querySelector('#title')).color === 'rgb(0, 0, 255)'"
    )
    assert page.evaluate("window.__kontextMarker") == "before-update"
    assert applied_event(server, sid, css["updateId"])["browserAck"] == "css"

    # Two writes of the same file 20 ms apart: the second one is what stays on screen
    # (plain Vite's watcher drops the second write and keeps serving the first).
    push(api, sid, HEADER, header("First write"))
    time.sleep(0.02)
    push(api, sid, HEADER, header("Second write"))
    page.wait_for_function("document.querySelector('#title').textContent === 'Second write'")
    time.sleep(0.5)  # nothing late may overwrite it
    assert page.inner_text("#title") == "Second write"
    page.reload()
    page.wait_for_selector("#title")
    assert page.inner_text("#title") == "Second write"

    # DELETE: the preview URL answers 404 and the Vite process is gone.
    assert agent_pids(sid), "the session's agent should be running"
    assert api.delete(f"/kontext/preview/{sid}").json() == {"success": True}
    assert server.preview_get(sid).status_code == 404
    assert wait_for(lambda: not agent_pids(sid)), f"agent still running: {agent_pids(sid)}"
    assert not session_dir(server, sid).exists()
    assert api.get(f"/kontext/preview/{sid}").status_code == 404
    page.close()


def test_binary_files_are_served_byte_for_byte(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    favicon = next(f for f in files if f["name"].endswith("favicon.png"))
    assert favicon["encoding"] == "base64"
    sid = create_session(api, files)["sessionId"]
    response = server.preview_get(sid, "/favicon.png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    api.delete(f"/kontext/preview/{sid}")


def test_deleting_a_file_through_update(
    server: ApiServer, api: httpx.Client, browser: Any, files: list[dict[str, Any]]
) -> None:
    sid, page = open_preview(server, api, browser, files)
    app = 'export default function App() {\n  return <main><p id="solo">no header</p></main>;\n}\n'
    response = api.post(
        f"/kontext/preview/{sid}/update",
        json={
            "files": [{"name": "src/frontend/src/App.tsx", "content": app}],
            "deletedFiles": [HEADER],
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["deleted"] == [HEADER]
    page.wait_for_selector("#solo")
    gone = server.preview_get(sid, "/src/Header.tsx")  # Vite answers with its SPA fallback
    assert "javascript" not in gone.headers["content-type"] and "Hello from" not in gone.text
    assert not (session_dir(server, sid) / "workspace" / HEADER).exists()
    status = api.get(f"/kontext/preview/{sid}").json()
    assert status["files"] == len(files) - 1
    page.close()
    api.delete(f"/kontext/preview/{sid}")


def test_compile_and_runtime_errors_reach_the_event_stream(
    server: ApiServer, api: httpx.Client, browser: Any, files: list[dict[str, Any]]
) -> None:
    sid, page = open_preview(server, api, browser, files)

    def error_event(kind: str) -> dict[str, Any]:
        events = read_events(
            server.base_url,
            sid,
            until=lambda e: e.type == "preview.error" and e.data["kind"] == kind,
            timeout=20,
        )
        assert events[-1].type == "preview.error", [e.type for e in events]
        return events[-1].data

    # A syntax error: Vite's compile error, with the project's file name and line.
    push(api, sid, HEADER, "export default function Header() {\n  return <h1>;\n}\n")
    compile_error = error_event("compile")
    assert compile_error["file"] == HEADER, compile_error
    assert compile_error.get("line") in (2, 3) and "Header.tsx" in compile_error["message"], (
        compile_error
    )

    # An error thrown by the app in the page: reported by the page itself.
    thrower = (
        "export default function Header() {\n"
        "  setTimeout(() => { throw new Error('kaboom from the header'); }, 0);\n"
        '  return <h1 id="title">Throws</h1>;\n'
        "}\n"
    )
    push(api, sid, HEADER, thrower)
    runtime_error = error_event("runtime")
    assert "kaboom from the header" in runtime_error["message"], runtime_error
    assert runtime_error["file"] == HEADER, runtime_error
    page.close()
    api.delete(f"/kontext/preview/{sid}")
