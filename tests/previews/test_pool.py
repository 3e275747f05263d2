"""The warm pool: a new session takes over a dev server started ahead of demand, on both
backends and behind the distributed API; slots count against the node's capacity."""

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import create_session, push
from tests.distributed.cluster import Cluster
from tests.project import project_files
from tests.sandboxes import BACKEND_PARAMS, sandbox_alive
from tests.server import ApiServer, ready_slots, wait_for

pytestmark = [pytest.mark.vite]
HEADER = "src/frontend/src/Header.tsx"


def warm_slots(data_dir: Path, backend: str) -> list[str]:
    """Session folders with a running sandbox (slots, and the sessions that took them)."""
    folder = data_dir / "sessions"
    found = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    return [sid for sid in found if sandbox_alive(backend, sid)]


def header(text: str) -> str:
    return f'export default function Header() {{\n  return <h1 id="title">{text}</h1>;\n}}\n'


def logs(api: Any, sid: str) -> str:
    return "\n".join(api.get(f"/kontext/preview/{sid}").json()["logs"])


@pytest.mark.browser
@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_a_new_session_takes_over_a_warm_dev_server(
    backend: str, tmp_path: Path, browser: Any
) -> None:
    server = ApiServer.start(
        tmp_path, sandbox_backend=backend, pool_size=1, pool_refill_delay_seconds=0.2
    )
    try:
        assert wait_for(lambda: ready_slots("".join(server.output)), timeout=60)
        (slot,) = ready_slots("".join(server.output))
        with server.client() as api:
            session = create_session(api, project_files())
            sid = session["sessionId"]
            assert sid == slot and session["status"] == "active"
            assert "started from the warm pool" in logs(api, sid)
            # The project, not the sample, is on screen, and it updates by HMR.
            page = browser.new_page()
            loads: list[str] = []  # requests for the page itself
            page.on("request", lambda r: r.resource_type == "document" and loads.append(r.url))
            page.goto(session["previewUrl"])
            page.wait_for_function(
                "document.querySelector('#title')?.textContent === 'Hello from Kontext'"
            )
            push(api, sid, HEADER, header("Warm"))
            page.wait_for_function("document.querySelector('#title').textContent === 'Warm'")
            assert len(loads) == 1, "the page was loaded twice (a reload left from the claim)"
            page.close()
            # The pool is filled again, with a new slot.
            assert wait_for(lambda: len(ready_slots("".join(server.output))) == 2, timeout=60)
            # A project of another shape (its app at the root) starts its own dev server.
            other = [
                {**f, "name": f["name"].removeprefix("src/frontend/")}
                for f in project_files()
                if f["name"].startswith("src/frontend/")
            ]
            cold = create_session(api, other)
            assert cold["status"] == "active"
            assert "started from the warm pool" not in logs(api, cold["sessionId"])
            assert len(warm_slots(tmp_path, backend)) == 3  # two sessions and the slot
    finally:
        server.stop()
    assert not warm_slots(tmp_path, backend), "a stopped server leaves no slot"


def test_warm_slots_count_against_the_node_and_give_way(tmp_path: Path) -> None:
    server = ApiServer.start(
        tmp_path, pool_size=1, pool_refill_delay_seconds=0.1, max_running_sessions=2
    )
    try:
        ready = lambda: ready_slots("".join(server.output))  # noqa: E731
        assert wait_for(lambda: len(ready()) == 1, timeout=60)
        with server.client() as api:
            first = create_session(api, project_files())["sessionId"]
            assert wait_for(lambda: len(ready()) == 2, timeout=60)
            second = create_session(api, project_files())["sessionId"]
            assert "started from the warm pool" in logs(api, second)
            # Two dev servers are the node's limit: no new slot.
            assert not wait_for(lambda: len(warm_slots(tmp_path, "local")) > 2, timeout=3)
            # A third session needs room: the least recently used session hibernates.
            third = create_session(api, project_files())["sessionId"]
            assert api.get(f"/kontext/preview/{third}").json()["status"] == "active"
            status = lambda: api.get(f"/kontext/preview/{first}").json()["status"]  # noqa: E731
            assert wait_for(lambda: status() == "hibernated", timeout=30)
    finally:
        server.stop()


@pytest.mark.distributed
def test_a_worker_node_keeps_a_warm_pool(tmp_path: Path) -> None:
    cluster = Cluster.start(
        tmp_path / "cluster", ("p1",), pool_size=1, pool_refill_delay_seconds=0.2
    )
    try:
        worker = cluster.workers["p1"]
        assert wait_for(lambda: ready_slots(worker.log()), timeout=60)
        (slot,) = ready_slots(worker.log())
        with cluster.api.client() as api:
            session = create_session(api, project_files())
            sid = session["sessionId"]
            assert sid == slot, "the node gave the session its slot's id"
            assert cluster.record(sid)["status"] == "active"
            assert "Hello from Kontext" in cluster.api.preview_get(sid, "/src/Header.tsx").text
            result = push(api, sid, HEADER, header("W"))
            assert result["updated"] == [HEADER]
            api.delete(f"/kontext/preview/{sid}")
    finally:
        cluster.stop()
