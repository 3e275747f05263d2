"""Local backend failures: a clear status, nothing left behind, no other session harmed."""

import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import create_session, replace_file, session_dir, with_dependency
from tests.project import project_files
from tests.server import ApiServer, agent_pids, wait_for

pytestmark = pytest.mark.vite

CONFIG = "src/frontend/vite.config.ts"
GOOD_CONFIG = (
    'import { defineConfig } from "vite";\nimport react from "@vitejs/plugin-react";\n\n'
    "export default defineConfig({ plugins: [react()] });\n"
)


def assert_left_nothing(server: ApiServer, sid: str) -> None:
    """No process; the files stay, for the update that fixes the project."""
    assert wait_for(lambda: not agent_pids(sid)), f"orphan agent: {agent_pids(sid)}"


def test_a_vite_config_that_throws(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    healthy = create_session(api, files)["sessionId"]
    broken = replace_file(files, CONFIG, 'throw new Error("config exploded on purpose");\n')
    session = create_session(api, broken)
    sid = session["sessionId"]
    assert session["status"] == "failed"
    assert "config exploded on purpose" in session["error"]
    assert_left_nothing(server, sid)
    status = api.get(f"/kontext/preview/{sid}").json()
    assert status["status"] == "failed" and "config exploded" in status["error"]
    assert status["fallback"] and "config exploded" in status["fallback"]
    # The fallback deployment builds with the same config, so it fails too; meanwhile the
    # preview says it is deploying, then shows both reasons.
    page = server.preview_get(sid)
    assert page.status_code in (502, 503) and "config exploded on purpose" in page.text
    assert wait_for(lambda: server.preview_get(sid).status_code == 502, timeout=60)
    page = server.preview_get(sid)
    assert "config exploded on purpose" in page.text and "deployment failed too" in page.text

    # Other sessions keep serving.
    assert server.preview_get(healthy, "/src/Header.tsx").status_code == 200

    # The AI fixes the config with an update: the session starts again.
    fix = {"files": [{"name": CONFIG, "content": GOOD_CONFIG}]}
    result = api.post(f"/kontext/preview/{sid}/update", params={"wait": "true"}, json=fix).json()
    assert result["status"] == "active", api.get(f"/kontext/preview/{sid}").json()
    assert server.preview_get(sid, "/src/Header.tsx").status_code == 200
    for each in (sid, healthy):
        api.delete(f"/kontext/preview/{each}")
    assert not session_dir(server, sid).exists()


def test_a_failed_session_is_not_installed_again(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    """A project beyond the template whose config throws: npm installs once; the updates
    while it stays broken, and the one that fixes it, reuse that install."""
    extra = with_dependency(files, "is-number", "7.0.0")
    broken = replace_file(extra, CONFIG, 'throw new Error("config exploded on purpose");\n')
    session = create_session(api, broken)
    sid = session["sessionId"]
    assert session["status"] == "failed" and "config exploded" in session["error"]
    still_broken = 'throw new Error("config exploded again");\n'
    for content in (still_broken, GOOD_CONFIG):
        update = {"files": [{"name": CONFIG, "content": content}]}
        api.post(f"/kontext/preview/{sid}/update", params={"wait": "true"}, json=update)
    status = api.get(f"/kontext/preview/{sid}").json()
    assert status["status"] == "active", status
    logs = status["logs"]
    installs = [line for line in logs if line.startswith("dependencies: installing")]
    assert len(installs) == 1 and "is-number@7.0.0" in installs[0], logs
    assert sum("installed before for this package.json" in line for line in logs) == 2, logs
    api.delete(f"/kontext/preview/{sid}")


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_taken_port_is_skipped(tmp_path: Any, taken_port: int) -> None:
    free = _free_port_after(taken_port)
    server = ApiServer.start(tmp_path, sandbox_port_min=taken_port, sandbox_port_max=free)
    try:
        with server.client() as api:
            session = create_session(api, project_files())
            assert session["status"] == "active", session
            logs = api.get(f"/kontext/preview/{session['sessionId']}").json()["logs"]
            assert any(f"ready on port {free}" in line for line in logs), logs
    finally:
        server.stop()


def test_no_free_port_is_a_clear_failure(tmp_path: Any, taken_port: int) -> None:
    server = ApiServer.start(tmp_path, sandbox_port_min=taken_port, sandbox_port_max=taken_port)
    try:
        with server.client() as api:
            session = create_session(api, project_files())
            assert session["status"] == "failed"
            assert (
                f"no free port for Vite between {taken_port} and {taken_port}" in session["error"]
            )
            assert_left_nothing(server, session["sessionId"])
            assert api.get("/").status_code == 200  # still serving
    finally:
        server.stop()


def test_the_api_port_already_taken_is_a_clear_error(taken_port: int) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kontext_preview", "serve", "--port", str(taken_port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"port {taken_port} on 127.0.0.1 is already in use" in result.stderr


def _free_port_after(port: int) -> int:
    for candidate in range(port + 1, port + 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return candidate
    raise RuntimeError("no free port near the taken one")


def test_ports_return_to_the_pool(tmp_path: Any, taken_port: int) -> None:
    """With one usable port, sessions one after another all get it back."""
    server = ApiServer.start(
        tmp_path, sandbox_port_min=taken_port + 0, sandbox_port_max=_free_port_after(taken_port)
    )
    try:
        with server.client() as api:
            for _ in range(3):
                session = create_session(api, project_files())
                assert session["status"] == "active", session
                api.delete(f"/kontext/preview/{session['sessionId']}")
    finally:
        server.stop()
