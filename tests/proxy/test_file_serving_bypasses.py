"""The 2025 Vite file-serving bypasses (CVE-2025-30208, -31125, -31486, -32395; fixed in
5.4.15+ and later patches) against a project pinned to Vite 5.4.11, as the Internet
Computer examples are: straight to that dev server some of them read /etc/passwd; through
the preview proxy every one is refused, on both sandbox backends."""

import json
import re
import socket
from typing import Any

import httpx
import pytest

from kontext_preview.proxy.guard import refusal
from tests.conftest import create_session, replace_file
from tests.project import project_files
from tests.server import ApiServer

pytestmark = [pytest.mark.vite, pytest.mark.network, pytest.mark.adversarial]

PACKAGE = "src/frontend/package.json"
SECRET = b"root:x:0:0"
BYPASSES = [
    "/@fs/etc/passwd?raw??",
    "/@fs/etc/passwd?import&raw??",
    "/@fs/etc/passwd?import&?inline=1.wasm?init",
    "/@fs/etc/passwd?raw?import",
    "/@fs/tmp/?/../../../../../etc/passwd?import&?raw",
    "/etc/passwd?raw??",
    "/etc/passwd?import&raw??",
    "/@fs/etc/passwd%3Fraw%3F%3F",
    "/@fs/etc/passwd?raw%3F%3F",
    "/@fs/etc/passwd?raw%253F%253F",
    "/@fs/etc/passwd%23?raw",
    "/@fs/etc/passwd?raw%23",
    "/src/../../../../../../etc/passwd?raw",
    "/src/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd?raw",
    "/@fs/etc/passwd%00?raw",
]
ORDINARY = [
    "/src/App.tsx?t=1712345678&import",
    "/node_modules/.vite/deps/react.js?v=1a2b3c4d",
    "/src/worker.ts?worker_file&type=module",
    "/index.html?html-proxy&index=0.css",
    "/@fs/session/workspace/src/a%20b.tsx?import",
    "/assets/logo.svg?url",
]


def raw_get(port: int, target: str, host: str) -> tuple[int, bytes]:
    """One GET with the request target exactly as given (no client normalises it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data


@pytest.mark.parametrize("target", ORDINARY)
def test_the_urls_vite_writes_pass(target: str) -> None:
    path, _, query = target.partition("?")
    assert refusal(path.encode(), query.encode()) is None


def test_every_known_bypass_is_refused_whatever_the_vite(
    backend: str, backend_server: ApiServer
) -> None:
    server = backend_server
    api = server.client()
    files = project_files()
    package = json.loads(next(f["content"] for f in files if f["name"] == PACKAGE))
    package["dependencies"].update({"react": "18.3.1", "react-dom": "18.3.1"})
    package["devDependencies"] = {"vite": "5.4.11", "@vitejs/plugin-react": "4.3.3"}
    session = create_session(api, replace_file(files, PACKAGE, json.dumps(package)))
    sid = session["sessionId"]
    assert session["status"] == "active", session
    logs = api.get(f"/kontext/preview/{sid}").json()["logs"]
    ready = next(m for line in logs if (m := re.search(r"Vite (\S+) ready on (.+)", line)))
    assert ready.group(1) == "5.4.11", ready.group(0)
    host = f"preview-{sid}.localhost"

    if backend == "local":
        # Straight to the dev server, this Vite gives the file away: the bypasses are real.
        # (A Docker session's dev server is reachable only through its socket's door.)
        port = int(ready.group(2).removeprefix("port "))
        leaked = [t for t in BYPASSES if SECRET in raw_get(port, t, "localhost")[1]]
        assert leaked, "Vite 5.4.11 should be vulnerable to at least one of these"

    for target in BYPASSES:
        status, body = raw_get(server.port, target, host)
        assert SECRET not in body, target
        assert status == 400, (target, status, body[:300])
    assert raw_get(server.port, "/src/App.tsx", host)[0] == 200
    api.delete(f"/kontext/preview/{sid}")
    api.close()


def test_a_refusal_says_why(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    sid = create_session(api, files)["sessionId"]
    status, body = raw_get(server.port, "/@fs/etc/passwd?raw??", f"preview-{sid}.localhost")
    assert status == 400 and b"a second &#x27;?&#x27; in the request target" in body
    api.delete(f"/kontext/preview/{sid}")
