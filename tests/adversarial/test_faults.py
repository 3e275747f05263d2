"""Faults injected under traffic: what the user sees, and that no accepted update is lost
(each one applied once, in order, and the last one served; benchmarks/load.py checks).
A worker killed in the middle of an update: tests/distributed/test_distributed.py."""

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.load import Sent, check, content, drive
from tests.conftest import create_session, push
from tests.distributed.cluster import Cluster
from tests.project import project_files
from tests.server import ApiServer, agent_pids, wait_for

pytestmark = [pytest.mark.adversarial, pytest.mark.vite]
HEADER = "src/frontend/src/Header.tsx"


def in_background(
    server: ApiServer, sid: str, rate: float, seconds: float
) -> tuple[threading.Thread, Sent]:
    sent = Sent()

    def run() -> None:
        result = drive(server.base_url, sid, 0, rate, seconds)
        sent.accepted, sent.errors, sent.latencies, sent.last_k = (
            result.accepted,
            result.errors,
            result.latencies,
            result.last_k,
        )

    thread = threading.Thread(target=run)
    thread.start()
    return thread, sent


def status(api: httpx.Client, sid: str) -> str:
    value: str = api.get(f"/kontext/preview/{sid}").json()["status"]
    return value


def test_vite_killed_during_traffic(server: ApiServer, api: httpx.Client) -> None:
    """The dev server dies: updates keep being accepted (the files are the truth), the
    supervisor starts it again, and the preview then serves the last update."""
    sid = create_session(api, project_files())["sessionId"]
    thread, sent = in_background(server, sid, rate=20, seconds=4)
    time.sleep(1)
    for pid in agent_pids(sid):
        os.kill(pid, signal.SIGKILL)
    thread.join(60)
    assert sent.errors == [] and len(sent.accepted) > 40
    assert wait_for(lambda: status(api, sid) == "active", timeout=60)
    logs = api.get(f"/kontext/preview/{sid}").json()["logs"]
    assert any("stopped unexpectedly" in line for line in logs), logs
    assert check(server, sid, 0, sent) == {"lost": 0, "out_of_order": 0}
    api.delete(f"/kontext/preview/{sid}")


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A Redis of this test's own, persisting every write (append-only file, fsync always),
    that the test may kill and start again on the same port and folder."""
    folder = tmp_path / "redis"
    folder.mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        "redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder),
        "--appendonly", "yes", "--appendfsync", "always", "--save", "",
    ]  # fmt: skip
    state: dict[str, Any] = {"url": f"redis://127.0.0.1:{port}/0", "command": command}

    def start() -> None:
        state["process"] = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        assert wait_for(lambda: _answers(port), timeout=10), "Redis did not start"

    state["start"] = start
    start()
    yield state
    state["process"].kill()
    state["process"].wait()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.mark.distributed
def test_redis_restarted_during_traffic(tmp_path: Path, own_redis: dict[str, Any]) -> None:
    """Redis crashes (SIGKILL) and comes back 10 s later from its append-only file. Meanwhile
    the API answers 503 store_unavailable (never a slow-worker 504 or a 500); every update
    accepted before, during or after is applied once, in order, and the last one is
    served."""
    cluster = Cluster.start(tmp_path / "cluster", ("r1",), redis_url=own_redis["url"])
    try:
        with cluster.api.client() as api:
            sid = create_session(api, project_files())["sessionId"]
            thread, sent = in_background(cluster.api, sid, rate=10, seconds=20)
            time.sleep(2)
            own_redis["process"].kill()
            own_redis["process"].wait()
            time.sleep(10)
            own_redis["start"]()
            thread.join(120)
            print("refused during the outage:", sent.errors)
            refused = [e for e in sent.errors if not e.startswith("503")]
            assert refused == [], refused  # only "the store does not answer, retry"
            assert all("store_unavailable" in e for e in sent.errors), sent.errors[:3]
            assert len(sent.accepted) > 30
            assert wait_for(lambda: status(api, sid) == "active", timeout=30)
            assert check(cluster.api, sid, 0, sent) == {"lost": 0, "out_of_order": 0}
            after = push(api, sid, HEADER, content(0, 9999))
            assert after["seq"] == max(sent.accepted) + 1, "numbering goes on where it was"
            api.delete(f"/kontext/preview/{sid}")
    finally:
        cluster.stop()


@pytest.mark.distributed
@pytest.mark.browser
def test_api_restarted_while_a_browser_is_connected(tmp_path: Path, browser: Any) -> None:
    """The API process (not the workers) is killed and started again on its port: the open
    page reconnects by itself and takes updates again; nothing accepted was lost."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cluster = Cluster.start(
        tmp_path / "cluster", ("a1",), port=port, browser_ack_timeout_seconds=30
    )
    settings = {k: v for k, v in cluster.settings.items() if k != "public_port"}
    try:
        with cluster.api.client() as api:
            session = create_session(api, project_files())
            sid = session["sessionId"]
            page = browser.new_page()
            page.goto(session["previewUrl"])
            page.wait_for_selector("#title")
            push(api, sid, HEADER, content(0, 1))
            page.wait_for_function("document.querySelector('#title').textContent === 's0 k1'")
            page.evaluate("window.__beforeRestart = true")  # a reload clears it

        os.kill(cluster.api.process.pid, signal.SIGKILL)
        cluster.api.process.wait()
        cluster.api = ApiServer.start(tmp_path / "cluster" / "n1", port=port, **settings)
        with cluster.api.client() as api:
            assert status(api, sid) == "active"
            # The page's Vite client noticed, polled, and reloaded: the last update is on it.
            page.wait_for_function(
                "!window.__beforeRestart"
                " && document.querySelector('#title')?.textContent === 's0 k1'",
                timeout=30_000,
            )
            push(api, sid, HEADER, content(0, 2))
            page.wait_for_function("document.querySelector('#title').textContent === 's0 k2'")
            page.close()
            api.delete(f"/kontext/preview/{sid}")
    finally:
        cluster.stop()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB file system of its own (tmpfs; mounting needs root)."""
    if os.getuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk(small_disk: Path) -> None:
    """The workspace's disk fills up: the update is refused whole with a clear error (nothing
    half-written, the preview serves what it did), and goes through once there is room."""
    server = ApiServer.start(small_disk / "data")
    try:
        with server.client() as api:
            sid = create_session(api, project_files())["sessionId"]
            filler = small_disk / "filler"
            free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
            filler.write_bytes(b"\0" * max(free - 200_000, 0))
            big = "export const data = '" + "x" * 1_000_000 + "';\n"
            files = [
                {"name": "src/frontend/src/big.ts", "content": big},
                {"name": HEADER, "content": content(0, 1)},
            ]
            refused = api.post(f"/kontext/preview/{sid}/update", json={"files": files})
            assert refused.status_code == 502, refused.text
            error = refused.json()["error"]
            assert "No space left on device" in error["message"], error
            assert '"s0 k1"' not in server.preview_get(sid, "/src/Header.tsx").text
            workspace = small_disk / "data" / "sessions" / sid / "workspace"
            assert not (workspace / "src/frontend/src/big.ts").exists(), "half-written"
            assert server.preview_get(sid, "/src/Header.tsx").status_code == 200

            filler.unlink()
            accepted = api.post(f"/kontext/preview/{sid}/update", json={"files": files})
            assert accepted.status_code == 200, accepted.text
            assert '"s0 k1"' in server.preview_get(sid, "/src/Header.tsx").text
            api.delete(f"/kontext/preview/{sid}")
    finally:
        server.stop()
