"""Distributed mode under load and faults, with a real Redis and real Celery workers:
event streams that stay open (idle, or a thousand of them on one API process), a worker
that is slow (not "Redis down"), a create the API gave up on, a dead node whose
sessions move to a live one while a browser has the preview open."""

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.load import Streams, content, drive
from tests.conftest import create_session, push
from tests.distributed.cluster import Cluster, read_events
from tests.project import project_files
from tests.server import wait_for

pytestmark = [pytest.mark.distributed, pytest.mark.vite]

HEADER = "src/frontend/src/Header.tsx"


def last_event_id(api: httpx.Client, sid: str) -> str:
    answer = api.get(f"/kontext/preview/{sid}")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["lastEventId"])


def test_a_stream_idle_for_60_s_still_delivers_the_next_event(cluster: Cluster) -> None:
    with cluster.api.client() as api:
        sid = create_session(api, project_files())["sessionId"]
        after = last_event_id(api, sid)
        got: list[Any] = []
        follower = threading.Thread(
            target=lambda: got.extend(
                read_events(
                    cluster.api.base_url,
                    sid,
                    until=lambda e: e.type == "update.applied",
                    last_event_id=after,
                    timeout=120,
                )
            )
        )
        follower.start()
        time.sleep(62)  # nothing happens to the session meanwhile
        assert follower.is_alive(), f"the stream ended while idle: {got}"
        push(api, sid, HEADER, content(0, 1))
        follower.join(30)
        assert [e.type for e in got][-1:] == ["update.applied"], got
        api.delete(f"/kontext/preview/{sid}")


def test_a_thousand_streams_on_one_api_process_while_updates_go_through(tmp_path: Path) -> None:
    """250 followers on each of 4 sessions; updates at 5/s each meanwhile: every one is
    answered 200 and reaches every stream; none drops; a GET still answers."""
    cluster = Cluster.start(tmp_path, ("m1",))
    try:
        with cluster.api.client() as api:
            ids = [create_session(api, project_files())["sessionId"] for _ in range(4)]
            with Streams(cluster.api.base_url, ids, 1000) as streams:
                sent: dict[int, Any] = {}
                threads = [
                    threading.Thread(
                        target=lambda i=i, sid=sid: sent.__setitem__(
                            i, drive(cluster.api.base_url, sid, i, rate=5, seconds=6)
                        )
                    )
                    for i, sid in enumerate(ids)
                ]
                for thread in threads:
                    thread.start()
                assert api.get(f"/kontext/preview/{ids[0]}").status_code == 200
                for thread in threads:
                    thread.join(120)
                assert all(not s.errors for s in sent.values()), [
                    s.errors[:2] for s in sent.values()
                ]
                accepted = [set(sent[i].accepted) for i in range(len(ids))]
                assert all(len(a) >= 20 for a in accepted), accepted

                def every_stream_has_every_update() -> bool:
                    applied, _ = streams.state()
                    return all(accepted[i % 4] <= set(seqs) for i, seqs in enumerate(applied))

                assert wait_for(every_stream_has_every_update, timeout=60, interval=0.5)
                _, dropped = streams.state()
                assert dropped == []
    finally:
        cluster.stop()


def test_a_slow_worker_is_waited_for_and_one_too_slow_gets_504_not_503(tmp_path: Path) -> None:
    """The worker process is stopped (SIGSTOP) for longer than Redis' socket timeout: a
    create and an update are answered once it goes on. With a shorter
    KONTEXT_UPDATE_TIMEOUT_SECONDS: an update gets 504 and is applied once later; a create
    gets 504 and no session is left behind."""
    cluster = Cluster.start(tmp_path, ("s1",), update_timeout_seconds=20)
    worker = cluster.workers["s1"].process
    try:
        with cluster.api.client() as api:
            sid = create_session(api, project_files())["sessionId"]
            os.kill(worker.pid, signal.SIGSTOP)
            threading.Timer(8, os.kill, (worker.pid, signal.SIGCONT)).start()
            began = time.monotonic()
            answer = api.post(
                f"/kontext/preview/{sid}/update",
                json={"files": [{"name": HEADER, "content": content(0, 1)}]},
            )
            assert answer.status_code == 200, answer.text
            assert time.monotonic() - began > 7  # it was waited for
            os.kill(worker.pid, signal.SIGSTOP)
            threading.Timer(8, os.kill, (worker.pid, signal.SIGCONT)).start()
            created = api.post("/kontext/preview", json={"files": project_files()})
            assert created.status_code == 200, created.text
            api.delete(f"/kontext/preview/{created.json()['sessionId']}")
            api.delete(f"/kontext/preview/{sid}")
    finally:
        os.kill(worker.pid, signal.SIGCONT)
        cluster.stop()

    cluster = Cluster.start(tmp_path / "short", ("s2",), update_timeout_seconds=3)
    worker = cluster.workers["s2"].process
    try:
        with cluster.api.client() as api:
            sid = create_session(api, project_files())["sessionId"]
            os.kill(worker.pid, signal.SIGSTOP)
            late = api.post(
                f"/kontext/preview/{sid}/update",
                json={"files": [{"name": HEADER, "content": content(0, 7)}]},
            )
            assert late.status_code == 504, late.text
            assert "queued" in late.json()["error"]["message"]
            refused = api.post("/kontext/preview", json={"files": project_files()})
            assert refused.status_code == 504, refused.text
            assert "no session was made" in refused.json()["error"]["message"]
            os.kill(worker.pid, signal.SIGCONT)
            applied = read_events(
                cluster.api.base_url, sid, until=lambda e: e.type == "update.applied"
            )
            assert [e.data["seq"] for e in applied if e.type == "update.applied"] == [1]
            assert '"s0 k7"' in cluster.api.preview_get(sid, "/src/Header.tsx").text
            time.sleep(3)  # the worker has taken its queued create task by now
            owned = cluster.redis.smembers(f"{cluster.prefix}owner:alice:sessions")
            assert {m.decode() for m in owned} == {sid}, "the called-off create left a session"
            api.delete(f"/kontext/preview/{sid}")
    finally:
        os.kill(worker.pid, signal.SIGCONT)
        cluster.stop()


@pytest.mark.browser
def test_a_dead_nodes_sessions_start_again_on_a_live_node(tmp_path: Path, browser: Any) -> None:
    """Two nodes; the one hosting the open preview is SIGKILLed while an update is on its
    way: the session is marked starting (with why), moves to the other node, the open page
    shows the app with the update, as a fresh load does, and the update was applied once."""
    cluster = Cluster.start(tmp_path, ("d1", "d2"), browser_ack_timeout_seconds=30)
    try:
        with cluster.api.client() as api:
            sid, url = "", ""
            for _ in range(6):  # until one lands on d1 (sessions go to the emptiest node)
                made = create_session(api, project_files())
                if cluster.record(made["sessionId"])["node"] == "d1":
                    sid, url = made["sessionId"], made["previewUrl"]
                    break
            assert sid, "no session landed on d1"
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector("#title")
            push(api, sid, HEADER, content(0, 1))
            page.wait_for_function("document.querySelector('#title').textContent === 's0 k1'")
            read_events(  # the page's acknowledgement is stored: the node dies after it
                cluster.api.base_url, sid, until=lambda e: e.type == "update.applied"
            )

            cluster.workers["d1"].kill()
            answers: list[httpx.Response] = []
            sender = threading.Thread(
                target=lambda: answers.append(
                    api.post(
                        f"/kontext/preview/{sid}/update",
                        json={"files": [{"name": HEADER, "content": content(0, 2)}]},
                    )
                )
            )
            sender.start()
            seen = wait_for(
                lambda: (
                    (v := api.get(f"/kontext/preview/{sid}").json())["status"] == "starting" and v
                ),
                timeout=30,
            )
            assert seen and "d1" in (seen["error"] or ""), seen
            assert wait_for(lambda: cluster.record(sid).get("node") == "d2", timeout=40)
            assert wait_for(
                lambda: api.get(f"/kontext/preview/{sid}").json()["status"] == "active",
                timeout=60,
            )
            sender.join(60)
            assert answers and answers[0].status_code in (200, 504), answers
            page.wait_for_function(
                "document.querySelector('#title')?.textContent === 's0 k2'", timeout=60_000
            )
            fresh = browser.new_page()
            fresh.goto(page.url)
            fresh.wait_for_function("document.querySelector('#title')?.textContent === 's0 k2'")
            fresh.close()
            page.close()
            events = read_events(cluster.api.base_url, sid, timeout=3)
            applied = [e.data["seq"] for e in events if e.type == "update.applied"]
            assert applied == [1, 2], [(e.type, e.data.get("seq")) for e in events]
            # d1 back: it hosts none of its old sessions and removes what it left of them.
            cluster.add_worker("d1")
            assert not (cluster.root / "d1" / "sessions" / sid).exists()
            assert cluster.record(sid)["node"] == "d2"
            assert api.get(f"/kontext/preview/{sid}").json()["status"] == "active"
            api.delete(f"/kontext/preview/{sid}")
    finally:
        cluster.stop()
