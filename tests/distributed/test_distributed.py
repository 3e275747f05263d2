"""Distributed mode end to end: the real API, real Celery workers, the real Redis, real Vite."""

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import create_session, replace_file
from tests.distributed.cluster import Cluster, SseEvent, read_events
from tests.project import project_file, project_files
from tests.server import BOB_KEY, agent_pids, wait_for

pytestmark = [pytest.mark.vite, pytest.mark.distributed]

HEADER = "src/frontend/src/Header.tsx"


def header(text: str) -> str:
    return f'export default function Header() {{\n  return <h1 id="title">{text}</h1>;\n}}\n'


def update(api: httpx.Client, sid: str, text: str) -> dict[str, Any]:
    response = api.post(
        f"/kontext/preview/{sid}/update",
        json={"files": [{"name": HEADER, "content": header(text)}]},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def served_header(cluster: Cluster, sid: str) -> str:
    response = cluster.api.preview_get(sid, "/src/Header.tsx")
    assert response.status_code == 200, response.text[:300]
    return response.text


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def test_create_update_events_in_order_then_delete(
    cluster: Cluster, files: list[dict[str, Any]]
) -> None:
    with cluster.api.client() as api:
        session = create_session(api, files)
        sid = session["sessionId"]
        assert session["status"] == "active", session
        assert cluster.api.preview_get(sid).status_code == 200
        result = update(api, sid, "Distributed")
        assert result["updated"] == [HEADER]
        assert "Distributed" in served_header(cluster, sid)

        events = read_events(
            cluster.api.base_url,
            sid,
            until=lambda e: e.type == "update.applied" and e.data["updateId"] == result["updateId"],
        )
        types = [e.type for e in events]
        assert types[0] == "session.starting"
        assert types.index("session.ready") < types.index("update.received")
        assert types[-2:] == ["update.received", "update.applied"]
        assert events[-1].data["timings"]["writeMs"] >= 0
        ids = [e.id for e in events]
        assert ids == sorted(ids, key=lambda i: tuple(int(p) for p in i.split("-")))

        # Read your writes: once an update is answered its commit is stored (the answer
        # is written in the commit's transaction), so a GET at once counts a new file.
        before = api.get(f"/kontext/preview/{sid}").json()["files"]
        added = api.post(
            f"/kontext/preview/{sid}/update",
            json={"files": [{"name": "src/notes.txt", "content": "new"}]},
        )
        assert added.status_code == 200, added.text
        assert api.get(f"/kontext/preview/{sid}").json()["files"] == before + 1

        # The stream of a session that is deleted ends with session.deleted.
        ended: list[SseEvent] = []
        follower = threading.Thread(
            target=lambda: ended.extend(read_events(cluster.api.base_url, sid, timeout=30))
        )
        follower.start()
        time.sleep(0.3)
        assert api.delete(f"/kontext/preview/{sid}").json() == {"success": True}
        follower.join(30)
        assert not follower.is_alive(), "the stream should end when the session does"
        assert ended[-1].type == "session.deleted"
        assert api.get(f"/kontext/preview/{sid}").status_code == 404
        assert cluster.api.preview_get(sid).status_code == 404
        assert wait_for(lambda: not agent_pids(sid))
        # Nothing is left but the event stream and the note of how it ended; both expire.
        left = [f"{cluster.prefix}{k}:{sid}" for k in ("ended", "events")]
        assert cluster.keys(f"*{sid}*") == left
        assert 0 < cluster.redis.ttl(f"{cluster.prefix}ended:{sid}") <= 3600
        assert cluster.redis.ttl(f"{cluster.prefix}events:{sid}") > 0


def test_sessions_are_spread_over_nodes_and_routed_to_theirs(
    cluster: Cluster, files: list[dict[str, Any]]
) -> None:
    with cluster.api.client() as api:
        first = create_session(api, files)["sessionId"]
        second = create_session(api, files)["sessionId"]
        nodes = {cluster.record(first)["node"], cluster.record(second)["node"]}
        assert nodes == {"n1", "n2"}, "creation picks the least-loaded node"

        for sid in (first, second):
            node = cluster.workers[cluster.record(sid)["node"]]
            update(api, sid, f"Hello {sid[:6]}")
            # The session's Vite runs under its own node's worker, its files on that node.
            [agent] = agent_pids(sid)
            assert parent_of(agent) == node.process.pid
            workspace = node.data_dir / "sessions" / sid / "workspace"
            assert f"Hello {sid[:6]}" in (workspace / HEADER).read_text()
            assert f"Hello {sid[:6]}" in served_header(cluster, sid)
        for sid in (first, second):
            api.delete(f"/kontext/preview/{sid}")


def test_sse_reconnect_with_last_event_id_replays_exactly_what_was_missed(
    cluster: Cluster, files: list[dict[str, Any]]
) -> None:
    with cluster.api.client() as api:
        sid = create_session(api, files)["sessionId"]
        seen = read_events(cluster.api.base_url, sid, until=lambda e: e.type == "session.ready")
        missed = [update(api, sid, f"Missed {i}")["updateId"] for i in range(3)]

        replay = read_events(
            cluster.api.base_url,
            sid,
            last_event_id=seen[-1].id,
            until=lambda e: e.type == "update.applied" and e.data["updateId"] == missed[-1],
        )
        everything = read_events(
            cluster.api.base_url,
            sid,
            until=lambda e: e.type == "update.applied" and e.data["updateId"] == missed[-1],
        )
        assert [e.id for e in everything[: len(seen)]] == [e.id for e in seen]
        assert replay == everything[len(seen) :]
        # With no page to acknowledge, each update's update.applied is stored with its
        # answer, so it precedes the next update's update.received.
        assert [(e.type, e.data["updateId"]) for e in replay] == [
            (kind, update_id)
            for update_id in missed
            for kind in ("update.received", "update.applied")
        ]
        api.delete(f"/kontext/preview/{sid}")


def test_unknown_sessions_and_missing_workers_get_clear_errors(cluster: Cluster) -> None:
    with cluster.api.client() as api:
        response = api.post("/kontext/preview/" + "a" * 32 + "/update", json={"files": []})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "session_not_found"
        assert api.get("/kontext/preview/" + "b" * 32 + "/events").status_code == 404
        bad = api.post(
            "/kontext/preview", json={"files": [{"name": "../escape.js", "content": "x"}]}
        )
        assert bad.status_code == 400, bad.text  # validated by the worker, answered by the API
        assert "escape" in bad.json()["error"]["message"]


def test_a_worker_killed_during_an_update_applies_it_once_after_restart(
    tmp_path: Path, files: list[dict[str, Any]]
) -> None:
    hold = tmp_path / "hold"
    cluster = Cluster.start(tmp_path / "cluster", (), visibility_timeout_seconds=3)
    try:
        worker = cluster.add_worker(
            "k1", "--include=tests.distributed.faults", KONTEXT_TEST_HOLD=str(hold)
        )
        with cluster.api.client() as api:
            sid = create_session(api, files)["sessionId"]
            before = agent_pids(sid)
            hold.write_text("hold")
            answer: list[httpx.Response] = []
            caller = threading.Thread(
                target=lambda: answer.append(
                    api.post(
                        f"/kontext/preview/{sid}/update",
                        json={"files": [{"name": HEADER, "content": header("Survivor")}]},
                    )
                )
            )
            caller.start()
            held = hold.with_suffix(".held")
            assert wait_for(held.exists, timeout=20), worker.log()
            update_id = held.read_text()
            # Files were written and Vite told, but nothing was committed: kill it now.
            os.kill(worker.process.pid, signal.SIGKILL)
            worker.process.wait()
            hold.unlink()
            assert wait_for(lambda: not [p for p in before if Path(f"/proc/{p}").exists()])

            cluster.workers.pop("k1")
            cluster.add_worker(
                "k1", "--include=tests.distributed.faults", KONTEXT_TEST_HOLD=str(hold)
            )
            caller.join(60)
            assert answer and answer[0].status_code == 200, answer and answer[0].text
            assert answer[0].json()["updateId"] == update_id
            assert answer[0].json()["updated"] == [HEADER]

            status = api.get(f"/kontext/preview/{sid}", params={"wait": "true"}).json()
            assert wait_for(lambda: api.get(f"/kontext/preview/{sid}").json()["status"] == "active")
            assert "Survivor" in served_header(cluster, sid), status
            assert cluster.redis.llen(f"{cluster.prefix}session:{sid}:inbox") == 0
            stored = cluster.redis.hget(f"{cluster.prefix}session:{sid}:files", HEADER)
            assert stored is not None and b"Survivor" in stored

            # Celery delivers the unacknowledged task again (visibility timeout 3 s): it
            # finds the inbox empty, and the update stays applied exactly once.
            time.sleep(5)
            events = read_events(
                cluster.api.base_url, sid, until=lambda e: e.type == "update.applied"
            )
            applied = [e for e in events if e.type == "update.applied"]
            assert [e.data["updateId"] for e in applied] == [update_id]
            later = update(api, sid, "After the restart")
            assert later["updated"] == [HEADER]
            assert "After the restart" in served_header(cluster, sid)
            api.delete(f"/kontext/preview/{sid}")
    finally:
        hold.unlink(missing_ok=True)
        cluster.stop()


def test_files_sent_to_a_session_are_validated(
    cluster: Cluster, files: list[dict[str, Any]]
) -> None:
    with cluster.api.client() as api:
        sid = create_session(api, files)["sessionId"]
        events_before = cluster.redis.xlen(f"{cluster.prefix}events:{sid}")
        for bad in ("/etc/passwd", "src/../../escape.js", "src/frontend/node_modules/x.js"):
            response = api.post(
                f"/kontext/preview/{sid}/update",
                json={"files": [{"name": bad, "content": "x"}]},
            )
            assert response.status_code == 400, (bad, response.text)
        # Refused by the API itself: nothing reached Redis (no payload, no queued id, no
        # update.received event), for a new session's files too.
        refused = api.post("/kontext/preview", json={"files": [{"name": "../x", "content": ""}]})
        assert refused.status_code == 400, refused.text
        assert cluster.keys("payload:*") == []
        assert cluster.redis.llen(f"{cluster.prefix}session:{sid}:inbox") == 0
        assert cluster.redis.xlen(f"{cluster.prefix}events:{sid}") == events_before
        replaced = replace_file(files, HEADER, header("Replaced"))
        again = api.post("/kontext/preview", json={"files": replaced, "sessionId": sid})
        assert again.status_code == 200, again.text
        assert "Replaced" in served_header(cluster, sid)
        api.delete(f"/kontext/preview/{sid}")


def test_updates_arrive_as_celery_tasks_when_no_node_listens_for_nudges(
    tmp_path: Path, files: list[dict[str, Any]]
) -> None:
    cluster = Cluster.start(tmp_path / "cluster", ())
    try:
        cluster.add_worker("c1", "--include=tests.distributed.faults", KONTEXT_TEST_NO_WAKE="1")
        with cluster.api.client() as api:
            sid = create_session(api, files)["sessionId"]
            for text in ("Through Celery", "Again through Celery"):
                assert update(api, sid, text)["updated"] == [HEADER]
                assert text in served_header(cluster, sid)
            api.delete(f"/kontext/preview/{sid}")
        assert "kontext.apply_updates" in cluster.workers["c1"].log()
    finally:
        cluster.stop()


def test_a_worker_restarted_gracefully_brings_its_sessions_back(
    tmp_path: Path, files: list[dict[str, Any]]
) -> None:
    cluster = Cluster.start(tmp_path / "cluster", ("r1",))
    try:
        with cluster.api.client() as api:
            sid = create_session(api, files)["sessionId"]
            update(api, sid, "Before the restart")
            old_port = cluster.record(sid)["port"]
            old_agents = agent_pids(sid)
            cluster.restart_worker("r1")
            assert not [p for p in old_agents if Path(f"/proc/{p}").exists()]
            assert wait_for(lambda: cluster.record(sid).get("status") == "active", timeout=30)
            assert cluster.record(sid)["port"] != "" and agent_pids(sid)
            assert "Before the restart" in served_header(cluster, sid)
            update(api, sid, "After the restart")
            assert "After the restart" in served_header(cluster, sid)
            assert old_port  # the new port may differ; the proxy follows the registry
            api.delete(f"/kontext/preview/{sid}")
    finally:
        cluster.stop()


def test_beat_expires_idle_sessions(tmp_path: Path, files: list[dict[str, Any]]) -> None:
    cluster = Cluster.start(
        tmp_path / "cluster", ("e1",), session_ttl_seconds=3, reap_interval_seconds=1
    )
    try:
        with cluster.api.client() as api:
            sid = create_session(api, files)["sessionId"]
            assert agent_pids(sid)
            cluster.add_beat()
            events = read_events(cluster.api.base_url, sid, timeout=40)
            assert events[-1].type == "session.expired", [e.type for e in events]
            assert wait_for(lambda: not agent_pids(sid))
            # Nothing is left but the event stream and the note of how it ended; both expire.
            left = [f"{cluster.prefix}{k}:{sid}" for k in ("ended", "events")]
            assert cluster.keys(f"*{sid}*") == left
            week = 7 * 24 * 3600
            assert week - 60 < cluster.redis.ttl(f"{cluster.prefix}ended:{sid}") <= week
            assert api.get(f"/kontext/preview/{sid}").json()["status"] == "expired"
            with cluster.api.client(BOB_KEY) as bob:
                assert bob.get(f"/kontext/preview/{sid}").status_code == 404
            assert cluster.api.preview_get(sid).status_code == 410
            assert not (cluster.workers["e1"].data_dir / "sessions" / sid).exists()
            # Creating it again with the files restores it, under the same id.
            restored = create_session(api, files, sessionId=sid)
            assert restored["sessionId"] == sid and restored["status"] == "active", restored
            assert cluster.api.preview_get(sid).status_code == 200
            assert not cluster.keys(f"ended:{sid}")
    finally:
        cluster.stop()


def test_owners_limits_hibernation_and_resume_across_the_cluster(
    tmp_path: Path, files: list[dict[str, Any]]
) -> None:
    cluster = Cluster.start(
        tmp_path / "cluster",
        ("h1",),
        hibernate_after_seconds=2,
        reap_interval_seconds=0.5,
        max_sessions_per_user=1,
    )
    try:
        with cluster.api.client() as alice, cluster.api.client(BOB_KEY) as bob:
            sid = create_session(alice, files)["sessionId"]
            for method, path in (("GET", ""), ("DELETE", ""), ("GET", "/events")):
                answer = bob.request(method, f"/kontext/preview/{sid}{path}")
                assert answer.status_code == 404, answer.text
            update = bob.post(f"/kontext/preview/{sid}/update", json={"files": []})
            assert update.status_code == 404
            second = alice.post("/kontext/preview", json={"files": files})
            assert second.status_code == 429 and "limit per user" in second.text
            assert bob.post("/kontext/preview", json={"files": files}).status_code == 200

            events = read_events(
                cluster.api.base_url, sid, until=lambda e: e.type == "session.hibernated"
            )
            assert events[-1].type == "session.hibernated"
            assert wait_for(lambda: not agent_pids(sid))
            assert alice.get(f"/kontext/preview/{sid}").json()["status"] == "hibernated"
            waking = cluster.api.preview_get(sid)
            assert waking.status_code == 503 and 'data-kontext-page="waking"' in waking.text
            assert wait_for(
                lambda: cluster.api.preview_get(sid, "/src/Header.tsx").status_code == 200, 60
            )
            assert agent_pids(sid)
    finally:
        cluster.stop()


def test_readiness_and_sessions_per_node_in_the_metrics(tmp_path: Path) -> None:
    cluster = Cluster.start(tmp_path / "cluster", ())
    try:
        ready = httpx.get(f"{cluster.api.base_url}/readyz", trust_env=False)
        assert ready.status_code == 503 and "no worker node" in ready.json()["problems"][0]
        cluster.add_worker("m1")
        assert httpx.get(f"{cluster.api.base_url}/readyz", trust_env=False).status_code == 200
        with cluster.api.client() as api:
            sid = create_session(api, project_files())["sessionId"]

            def active_on_m1() -> bool:
                text = httpx.get(f"{cluster.api.base_url}/metrics", trust_env=False).text
                return 'kontext_sessions{node="m1",status="active"} 1.0' in text

            assert wait_for(active_on_m1, timeout=20), "the heartbeat carries status counts"
            api.delete(f"/kontext/preview/{sid}")
    finally:
        cluster.stop()


@pytest.mark.browser
@pytest.mark.parametrize(
    ("fixture", "component", "title", "framework"),
    [
        ("astro-app", "src/components/Counter.tsx", "Hello from Astro", "astro"),
        ("next-app", "app/counter.tsx", "Hello from Next.js", "nextjs"),
    ],
    ids=["astro", "nextjs"],
)
def test_a_framework_project_runs_on_a_worker_node(
    cluster: Cluster, browser: Any, fixture: str, component: str, title: str, framework: str
) -> None:
    """A framework (issue 33) in distributed mode: the session's dev server on a worker
    node, its page through the API's proxy, a component edit by HMR (Astro's island, a
    Next.js client component) acknowledged by that page, and a fresh load showing the
    same."""
    with cluster.api.client() as api:
        session = create_session(api, project_files(fixture))
        sid = session["sessionId"]
        assert (session["status"], session["framework"]) == ("active", framework), session
        node = cluster.workers[cluster.record(sid)["node"]]
        [agent] = agent_pids(sid)
        assert parent_of(agent) == node.process.pid, "not its worker node's dev server"
        page = browser.new_page()
        try:
            page.goto(session["previewUrl"])
            page.wait_for_selector("#title")
            page.wait_for_load_state("networkidle")
            page.evaluate("window.__marker = 'same page'")
            source = project_file(component, fixture)
            result = api.post(
                f"/kontext/preview/{sid}/update",
                json={
                    "files": [
                        {
                            "name": component,
                            "content": source.replace(title, "From a worker"),
                        }
                    ]
                },
            ).json()
            page.wait_for_function(
                "document.querySelector('#title')?.textContent === 'From a worker'"
            )
            events = read_events(
                cluster.api.base_url,
                sid,
                until=lambda e: (
                    e.type == "update.applied" and e.data["updateId"] == result["updateId"]
                ),
            )
            assert events[-1].data["browserAck"] == "update"
            assert page.evaluate("window.__marker") == "same page"
            fresh = browser.new_page()
            fresh.goto(session["previewUrl"])
            fresh.wait_for_selector("#title")
            assert fresh.inner_text("#title") == "From a worker"
            fresh.close()
        finally:
            page.close()
            api.delete(f"/kontext/preview/{sid}")
