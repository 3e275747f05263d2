"""Owners and API keys, the per-user limit, hibernation, expiry and supervision: each with a
real server, real Vite processes and, where a person would see it, Chromium."""

import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import create_session, replace_file, session_dir
from tests.distributed.cluster import read_events
from tests.server import BOB_KEY, ApiServer, agent_pids, auth, wait_for

pytestmark = [pytest.mark.vite]
HEADER = "src/frontend/src/Header.tsx"


def header(text: str) -> str:
    return f'export default function Header() {{\n  return <h1 id="title">{text}</h1>;\n}}\n'


def status_of(api: httpx.Client, sid: str) -> str:
    status: str = api.get(f"/kontext/preview/{sid}").json()["status"]
    return status


@pytest.fixture
def bob(server: ApiServer) -> Iterator[httpx.Client]:
    with server.client(BOB_KEY) as client:
        yield client


def test_every_call_needs_a_known_api_key(server: ApiServer, files: list[dict[str, Any]]) -> None:
    with httpx.Client(base_url=server.base_url, trust_env=False) as anonymous:
        missing = anonymous.post("/kontext/preview", json={"files": files})
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer" in missing.json()["error"]["message"]
        wrong = anonymous.get("/kontext/preview/abc", headers=auth("kp-not-a-key-0123456789"))
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
        analyze = anonymous.post("/kontext/analyze", json={"oldFiles": files, "newFiles": files})
        assert analyze.status_code == 401


def test_another_users_session_is_answered_like_an_unknown_one(
    server: ApiServer, api: httpx.Client, bob: httpx.Client, files: list[dict[str, Any]]
) -> None:
    sid = api.post("/kontext/preview", json={"files": files}).json()["sessionId"]
    unknown = "a" * len(sid)
    calls = [
        ("GET", "/kontext/preview/{}", None),
        ("POST", "/kontext/preview/{}/update", {"files": []}),
        ("GET", "/kontext/preview/{}/events", None),
        ("DELETE", "/kontext/preview/{}", None),
    ]
    for method, path, body in calls:
        theirs = bob.request(method, path.format(sid), json=body)
        nobody = bob.request(method, path.format(unknown), json=body)
        assert theirs.status_code == nobody.status_code == 404, (path, theirs.text)
        assert theirs.json()["error"]["message"] == nobody.json()["error"]["message"].replace(
            unknown, sid
        )
    # Nor can bob take it over by "replacing" its files.
    takeover = bob.post("/kontext/preview", json={"files": files, "sessionId": sid})
    assert takeover.status_code == 404
    assert api.get(f"/kontext/preview/{sid}").status_code == 200  # alice still has it
    assert api.delete(f"/kontext/preview/{sid}").status_code == 200


def test_the_embedded_default_makes_and_prints_a_local_key(
    tmp_path: Path, files: list[dict[str, Any]]
) -> None:
    server = ApiServer.start(tmp_path, api_keys=None)
    try:
        key_file = tmp_path / "api-key"
        key = key_file.read_text().strip()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert any(key in line for line in server.output), server.output
        with server.client(key) as api:
            same = {"oldFiles": files, "newFiles": files}
            assert api.post("/kontext/analyze", json=same).is_success
    finally:
        server.stop()
    again = ApiServer.start(tmp_path, api_keys=None)  # the same key after a restart
    again.stop()
    assert key_file.read_text().strip() == key


def test_at_most_n_live_sessions_per_user(tmp_path: Path, files: list[dict[str, Any]]) -> None:
    server = ApiServer.start(tmp_path, max_sessions_per_user=2)
    try:
        with server.client() as alice, server.client(BOB_KEY) as bob:
            made = [alice.post("/kontext/preview", json={"files": files}) for _ in range(2)]
            assert all(r.status_code == 200 for r in made)
            third = alice.post("/kontext/preview", json={"files": files})
            assert third.status_code == 429
            message = third.json()["error"]["message"]
            assert "limit per user" in message and "KONTEXT_MAX_SESSIONS_PER_USER" in message
            assert bob.post("/kontext/preview", json={"files": files}).status_code == 200
            alice.delete(f"/kontext/preview/{made[0].json()['sessionId']}")
            assert alice.post("/kontext/preview", json={"files": files}).status_code == 200
    finally:
        server.stop()


def test_idle_sessions_hibernate_and_a_page_load_wakes_them(
    tmp_path: Path, files: list[dict[str, Any]], browser: Any
) -> None:
    server = ApiServer.start(tmp_path, hibernate_after_seconds=2, reap_interval_seconds=0.5)
    try:
        with server.client() as api:
            session = create_session(api, files)
            sid = session["sessionId"]
            # (Polling GET would be activity and keep it awake: follow the events instead.)
            events = read_events(
                server.base_url, sid, until=lambda e: e.type == "session.hibernated"
            )
            assert events[-1].type == "session.hibernated"
            assert events[-1].data["reason"] == "idle"
            assert wait_for(lambda: not agent_pids(sid)), "the dev server is still running"
            assert status_of(api, sid) == "hibernated"
            workspace = session_dir(server, sid) / "workspace"
            assert (workspace / HEADER).is_file(), "hibernation must keep the files"

            page = browser.new_page()
            page.goto(session["previewUrl"])
            assert page.locator("[data-kontext-page=waking]").count() == 1, page.content()[:1500]
            page.wait_for_selector("#title", timeout=60_000)  # the page refreshed into the app
            assert page.inner_text("#title") == "Hello from Kontext"
            assert status_of(api, sid) == "active" and agent_pids(sid)
            page.close()
    finally:
        server.stop()


def test_a_full_node_hibernates_the_least_recently_used_session(
    tmp_path: Path, files: list[dict[str, Any]]
) -> None:
    server = ApiServer.start(tmp_path, max_running_sessions=1)
    try:
        with server.client() as api:
            first = create_session(api, files)["sessionId"]
            second = create_session(api, files)
            assert second["status"] == "active", second
            assert wait_for(lambda: status_of(api, first) == "hibernated", timeout=30)
            assert wait_for(lambda: not agent_pids(first))
            # An update wakes the first one (and makes room again).
            changed = replace_file(files, HEADER, header("Awake again"))
            update = api.post(
                f"/kontext/preview/{first}/update",
                params={"wait": "true"},
                json={"files": [f for f in changed if f["name"] == HEADER]},
            )
            assert update.json()["status"] == "active", update.text
            assert wait_for(lambda: status_of(api, second["sessionId"]) == "hibernated", 30)
            assert "Awake again" in server.preview_get(first, "/src/Header.tsx").text
    finally:
        server.stop()


def test_expired_sessions_show_an_expired_page_and_are_restored_by_create(
    tmp_path: Path, files: list[dict[str, Any]]
) -> None:
    server = ApiServer.start(tmp_path, session_ttl_seconds=3, reap_interval_seconds=0.5)
    try:
        with server.client() as api, server.client(BOB_KEY) as bob:
            sid = create_session(api, files)["sessionId"]
            events = read_events(server.base_url, sid, timeout=30)
            assert events[-1].type == "session.expired", [e.type for e in events]
            assert wait_for(lambda: not agent_pids(sid))
            assert not session_dir(server, sid).exists()
            assert not (tmp_path / "deployments" / sid).exists()
            status = api.get(f"/kontext/preview/{sid}").json()
            assert status["status"] == "expired" and "restore" in status["error"]
            assert bob.get(f"/kontext/preview/{sid}").status_code == 404
            page = server.preview_get(sid)
            assert page.status_code == 410 and 'data-kontext-page="expired"' in page.text

            # Bob cannot claim the id; alice restores it with the project's files.
            claim = bob.post("/kontext/preview", json={"files": files, "sessionId": sid})
            assert claim.status_code == 404
            restored = create_session(api, files, sessionId=sid)
            assert restored["sessionId"] == sid and restored["status"] == "active", restored
            assert server.preview_get(sid).status_code == 200
    finally:
        server.stop()


def test_a_killed_dev_server_is_restarted_and_the_page_reconnects(
    tmp_path: Path, files: list[dict[str, Any]], browser: Any
) -> None:
    server = ApiServer.start(tmp_path, browser_ack_timeout_seconds=30)
    try:
        with server.client() as api:
            session = create_session(api, files)
            sid = session["sessionId"]
            page = browser.new_page()
            page.goto(session["previewUrl"])
            page.wait_for_selector("#title")
            [pid] = agent_pids(sid)
            os.kill(pid, signal.SIGKILL)
            assert wait_for(lambda: (p := agent_pids(sid)) and p != [pid], timeout=60)
            assert wait_for(lambda: status_of(api, sid) == "active", timeout=60)
            logs = api.get(f"/kontext/preview/{sid}").json()["logs"]
            assert any("restarting it (1 of 3" in line for line in logs), logs
            # The page's Vite client found the new server by itself: an update reaches it.
            changed = [{"name": HEADER, "content": header("After the restart")}]
            update = api.post(f"/kontext/preview/{sid}/update", json={"files": changed})
            assert update.status_code == 200, update.text
            page.wait_for_function(
                "document.querySelector('#title')?.textContent === 'After the restart'",
                timeout=60_000,
            )
            page.close()
    finally:
        server.stop()
