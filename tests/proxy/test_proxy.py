"""The preview proxy: a session per origin, never a bare 502, nothing leaks between sessions."""

import json
import socket
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.conftest import create_session, replace_file, session_dir
from tests.server import ApiServer, wait_for

pytestmark = pytest.mark.vite

SLOW_CONFIG = (
    'import react from "@vitejs/plugin-react";\n'
    "await new Promise((resolve) => setTimeout(resolve, 3000));\n"
    "export default { plugins: [react()] };\n"
)


def test_an_unknown_preview_is_a_404_page(server: ApiServer) -> None:
    response = server.preview_get("b" * 32)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert 'data-kontext-page="not-found"' in response.text


def test_a_starting_session_shows_a_page_that_refreshes_itself(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    slow = replace_file(files, "src/frontend/vite.config.ts", SLOW_CONFIG)
    created = api.post("/kontext/preview", json={"files": slow}).json()
    sid = created["sessionId"]
    assert created["status"] in ("installing", "starting")
    page = server.preview_get(sid)
    assert page.status_code == 503
    assert 'data-kontext-page="starting"' in page.text
    assert "/__kontext/route" in page.text  # it follows the route; without scripts:
    assert '<noscript><meta http-equiv="refresh" content="1"></noscript>' in page.text
    assert page.headers["retry-after"] == "1"
    assert wait_for(lambda: server.preview_get(sid).status_code == 200, timeout=30)
    assert '<div id="root">' in server.preview_get(sid).text
    api.delete(f"/kontext/preview/{sid}")


def test_control_paths_of_the_agent_are_never_forwarded(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    sid = create_session(api, files)["sessionId"]
    for path in ("/__kontext/health", "/__kontext/notify"):
        response = server.preview_get(sid, path)
        assert response.status_code == 404 and 'data-kontext-page="not-found"' in response.text
    api.delete(f"/kontext/preview/{sid}")


def test_a_preview_origin_cannot_reach_the_api(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    sid = create_session(api, files)["sessionId"]
    response = server.preview_get(sid, f"/kontext/preview/{sid}")
    assert "application/json" not in response.headers.get("content-type", "")
    assert '"sessionId"' not in response.text
    deleted = httpx.delete(
        f"{server.base_url}/kontext/preview/{sid}", headers={"host": server.preview_host(sid)}
    )
    assert deleted.status_code != 200 or "success" not in deleted.text
    assert api.get(f"/kontext/preview/{sid}").status_code == 200  # still there
    api.delete(f"/kontext/preview/{sid}")


def test_a_session_cannot_read_another_sessions_files(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    first = create_session(api, files)["sessionId"]
    secret = replace_file(files, "src/frontend/src/Secret.ts", 'export const key = "s3cr3t";\n')
    second = create_session(api, secret)["sessionId"]
    secret_path = (session_dir(server, second) / "workspace/src/frontend/src/Secret.ts").resolve()
    assert server.preview_get(second, f"/@fs{secret_path}").status_code == 200
    stolen = server.preview_get(first, f"/@fs{secret_path}")
    assert stolen.status_code == 403 and "s3cr3t" not in stolen.text
    for sid in (first, second):
        api.delete(f"/kontext/preview/{sid}")


def hmr_socket(server: ApiServer, session_id: str) -> ClientConnection:
    """Open the HMR socket of a preview; *.localhost is dialled as 127.0.0.1 by hand."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    url = f"ws://{server.preview_host(session_id)}/hmr"
    return connect(url, sock=sock, subprotocols=[Subprotocol("vite-hmr")], open_timeout=10)


def test_the_hmr_socket_is_proxied_with_vites_subprotocol(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    sid = create_session(api, files)["sessionId"]
    with hmr_socket(server, sid) as ws:
        assert ws.subprotocol == "vite-hmr"
        assert json.loads(ws.recv(timeout=10))["type"] == "connected"
    api.delete(f"/kontext/preview/{sid}")


def test_the_hmr_socket_of_an_unknown_session_is_refused(server: ApiServer) -> None:
    with pytest.raises(InvalidStatus) as info:
        hmr_socket(server, "c" * 32)
    assert info.value.response.status_code == 403
