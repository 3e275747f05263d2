"""The sandbox contract, run against every backend (local processes and Docker containers):
create, update with HMR in Chromium through the proxy, stop, take over after a restart, and
nothing left behind."""

import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import create_session, push, session_dir, with_dependency
from tests.distributed.cluster import Cluster, read_events
from tests.project import project_files
from tests.sandboxes import containers_of, sandbox_alive
from tests.server import ApiServer, agent_pids, wait_for

pytestmark = [pytest.mark.vite, pytest.mark.browser]

HEADER = "src/frontend/src/Header.tsx"
CSS = "src/frontend/src/index.css"


def header(text: str) -> str:
    return f'export default function Header() {{\n  return <h1 id="title">{text}</h1>;\n}}\n'


def acknowledged(server: ApiServer, session_id: str, update_id: str) -> str:
    events = read_events(
        server.base_url,
        session_id,
        until=lambda e: e.type == "update.applied" and e.data["updateId"] == update_id,
    )
    ack: str = events[-1].data["browserAck"]
    return ack


def test_create_update_with_hmr_in_chromium_and_delete(
    backend: str, server: ApiServer, api: httpx.Client, browser: Any
) -> None:
    session = create_session(api, project_files())
    sid = session["sessionId"]
    assert session["status"] == "active", api.get(f"/kontext/preview/{sid}").json()
    assert sandbox_alive(backend, sid)

    page = browser.new_page()
    page.goto(session["previewUrl"])
    page.wait_for_selector("#title")
    page.evaluate("window.__kontextMarker = 'same page'")

    # A component edit arrives by HMR: the DOM changes, the page is not reloaded.
    result = push(api, sid, HEADER, header("Edited in the sandbox"))
    assert result["hmrTriggered"] is True
    page.wait_for_function(
        "document.querySelector('#title').textContent === 'Edited in the sandbox'"
    )
    assert acknowledged(server, sid, result["updateId"]) == "update"
    # A stylesheet is injected.
    css = push(api, sid, CSS, "#title {\n  color: rgb(0, 128, 0);\n}\n")
    page.wait_for_function(
        "getComputedStyle(document.querySelector('#title')).color === 'rgb(0, 128, 0)'"
    )
    assert acknowledged(server, sid, css["updateId"]) == "css"
    assert page.evaluate("window.__kontextMarker") == "same page"
    page.close()

    assert api.delete(f"/kontext/preview/{sid}").status_code == 200
    assert wait_for(lambda: not sandbox_alive(backend, sid)), "the sandbox outlived its session"
    assert not session_dir(server, sid).exists()
    assert server.preview_get(sid).status_code == 404


def test_a_vite_config_change_restarts_vite_in_place_and_it_serves_on(
    backend: str, server: ApiServer, api: httpx.Client
) -> None:
    """Vite restarts itself on a vite.config change and listens again: a container's dev
    server must come back on its socket, not on a port nobody can reach."""
    sid = create_session(api, project_files())["sessionId"]
    config = (
        'import { defineConfig } from "vite";\nimport react from "@vitejs/plugin-react";\n'
        'export default defineConfig({ plugins: [react()], define: { __KP__: "42" } });\n'
    )
    push(api, sid, "src/frontend/vite.config.ts", config)
    logs = lambda: "\n".join(api.get(f"/kontext/preview/{sid}").json()["logs"])  # noqa: E731
    assert wait_for(lambda: "server restarted" in logs(), timeout=30), logs()
    assert wait_for(lambda: server.preview_get(sid, "/src/App.tsx").status_code == 200, 30)
    assert server.preview_get(sid, "/").status_code == 200
    api.delete(f"/kontext/preview/{sid}")


def test_no_command_line_label_or_environment_carries_the_control_token(
    backend: str, server: ApiServer, api: httpx.Client
) -> None:
    """The agent's control token is in a file only its user may read (run/agent.json): not
    in what ``ps`` shows of any process, nor in what ``docker inspect`` shows of a container.
    The agent did get it: the session answers (its control channel checks the token)."""
    sid = create_session(api, project_files())["sessionId"]
    config = session_dir(server, sid) / "run" / "agent.json"
    token = json.loads(config.read_text())["token"]
    assert len(token) >= 24 and config.stat().st_mode & 0o777 == 0o600
    # Vite has the module once it was served; its update is then notified through the
    # control channel, which answers only with the token.
    assert server.preview_get(sid, "/src/Header.tsx").status_code == 200
    result = push(api, sid, HEADER, header("Token kept"))
    logs = api.get(f"/kontext/preview/{sid}").json()["logs"]
    assert result["hmrTriggered"] is True, logs
    shown = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            for part in ("cmdline", "environ"):
                with contextlib.suppress(OSError):
                    if token.encode() in (entry / part).read_bytes():
                        shown.append(f"{entry.name}/{part}")
    assert not shown, f"the token is in /proc/{shown}"
    if backend == "docker":
        (container,) = containers_of(sid)
        # Labels, environment, command and arguments: all of what docker inspect shows.
        assert token not in json.dumps(container.attrs), "docker inspect shows the token"
    api.delete(f"/kontext/preview/{sid}")


@pytest.mark.network
def test_dependencies_beyond_the_template_are_installed_without_scripts(
    backend: str, server: ApiServer, api: httpx.Client, browser: Any
) -> None:
    session = create_session(api, project_files("local-dep-app"))
    sid = session["sessionId"]
    status = api.get(f"/kontext/preview/{sid}").json()
    assert session["status"] == "active", status
    assert any("installing kontext-local-greeting@" in line for line in status["logs"])
    assert any(line.startswith("npm: ") for line in status["logs"])  # progress was visible
    assert not list(session_dir(server, sid).rglob("INSTALL_SCRIPT_RAN")), "a script ran"
    page = browser.new_page()
    page.goto(session["previewUrl"])
    page.wait_for_selector("#greeting")
    assert "package the template does not have" in page.inner_text("#greeting")
    page.close()
    api.delete(f"/kontext/preview/{sid}")


@pytest.mark.network
def test_an_npm_package_that_does_not_exist_is_a_clear_failure(
    backend: str, server: ApiServer, api: httpx.Client
) -> None:
    missing = with_dependency(project_files(), "kontext-no-such-package-zz9", "^1.0.0")
    session = create_session(api, missing)
    sid = session["sessionId"]
    assert session["status"] == "failed"
    assert "kontext-no-such-package-zz9" in session["error"]
    assert "does not exist in the npm registry" in session["error"]
    assert wait_for(lambda: not sandbox_alive(backend, sid)), "an install or dev server is left"
    # The files stay (for the update that fixes the package.json) until the session ends.
    assert session_dir(server, sid).exists()
    api.delete(f"/kontext/preview/{sid}")
    assert not session_dir(server, sid).exists()


def test_an_idle_sandbox_stops_and_a_page_load_starts_it_again(
    backend: str, tmp_path: Path, browser: Any
) -> None:
    server = ApiServer.start(
        tmp_path, sandbox_backend=backend, hibernate_after_seconds=2, reap_interval_seconds=0.5
    )
    try:
        with server.client() as api:
            session = create_session(api, project_files())
            sid = session["sessionId"]
            read_events(server.base_url, sid, until=lambda e: e.type == "session.hibernated")
            assert wait_for(lambda: not sandbox_alive(backend, sid)), "still running"
            assert (session_dir(server, sid) / "workspace" / HEADER).is_file()
            page = browser.new_page()
            page.goto(session["previewUrl"])  # the "waking up" page, then the app
            page.wait_for_selector("#title", timeout=60_000)
            assert sandbox_alive(backend, sid)
            page.close()
    finally:
        server.stop()
    assert not sandbox_alive(backend, sid)


def test_a_woken_page_comes_from_its_snapshot_and_hmr_works_after_the_wake(
    backend: str, tmp_path: Path, browser: Any
) -> None:
    """Issue 19: a hibernating session keeps what its page loaded; the wake's first page
    load is answered from it (every request of a new browser context), shows what a fresh
    load shows, and the page then gets HMR from the woken dev server."""
    server = ApiServer.start(tmp_path, sandbox_backend=backend, max_running_sessions=1)
    try:
        with server.client() as api:
            session = create_session(api, project_files())
            sid = session["sessionId"]
            push(api, sid, HEADER, header("Before the sleep"))
            _load(browser, session["previewUrl"])  # Vite pre-bundles what the page imports
            fresh = _load(browser, session["previewUrl"])  # ... and this load is of that
            assert fresh["title"] == "Before the sleep" and fresh["fromSnapshot"] == 0
            # A second session needs the node's only dev server: the first one sleeps.
            other = create_session(api, project_files())
            read_events(server.base_url, sid, until=lambda e: e.type == "session.hibernated")
            assert wait_for(lambda: not sandbox_alive(backend, sid)), "still running"
            logs = api.get(f"/kontext/preview/{sid}").json()["logs"]
            assert any(line.startswith("page snapshot kept:") for line in logs), logs

            woken = _load(browser, session["previewUrl"], keep_open=True)
            page = woken.pop("page")
            # Its first load, every request of it, came from the snapshot (a page the woken
            # dev server cannot go on from, its dependencies bundled anew, reloads after).
            assert woken["firstLoadFromSnapshot"] == woken["firstLoad"] > 5, woken
            assert woken["title"] == fresh["title"]
            assert woken["color"] == fresh["color"]
            # An edit at once, while the page may not have reached the woken dev server yet:
            # the page shows it all the same (by HMR, or a reload if it came too early).
            push(api, sid, HEADER, header("After the wake"))
            page.wait_for_function(
                "document.querySelector('#title')?.textContent === 'After the wake'"
            )
            snapshot_index = server.data_dir / "deployments" / sid / "snapshot" / "index.json"
            assert not snapshot_index.exists(), "the edit must drop the snapshot"
            # The page is connected to the woken dev server: an edit arrives by HMR.
            assert wait_for(lambda: page.evaluate("window.__kontext?.connected === true"), 30)
            # Vite's dependency cache outlived the dev server (a container's is kept in
            # the session's folder): the woken one did not need the image's seed again.
            logs = api.get(f"/kontext/preview/{sid}").json()["logs"]
            seeded = [line for line in logs if "dependency cache seeded" in line]
            assert len(seeded) == (1 if backend == "docker" else 0), seeded
            page.evaluate("window.__kontextMarker = 'same page'")
            result = push(api, sid, HEADER, header("By HMR after the wake"))
            page.wait_for_function(
                "document.querySelector('#title')?.textContent === 'By HMR after the wake'"
            )
            assert page.evaluate("window.__kontextMarker") == "same page"
            assert acknowledged(server, sid, result["updateId"]) == "update"
            page.context.close()

            # An update to a sleeping session wakes it and is applied, once.
            third = create_session(api, project_files())
            assert wait_for(lambda: status_of(api, sid) == "hibernated", timeout=30)
            asleep = push(api, sid, HEADER, header("Sent while asleep"))
            assert wait_for(lambda: status_of(api, sid) == "active", timeout=60)
            served = server.preview_get(sid, "/src/Header.tsx").text
            assert "Sent while asleep" in served
            events = read_events(
                server.base_url,
                sid,
                until=lambda e: (
                    e.type == "update.applied" and e.data["updateId"] == asleep["updateId"]
                ),
            )
            applied = [e for e in events if e.type == "update.applied"]
            assert [e.data["updateId"] for e in applied].count(asleep["updateId"]) == 1
            for other_id in (other["sessionId"], third["sessionId"], sid):
                api.delete(f"/kontext/preview/{other_id}")
    finally:
        server.stop()


def status_of(api: httpx.Client, sid: str) -> str:
    status: str = api.get(f"/kontext/preview/{sid}").json()["status"]
    return status


def _load(browser: Any, url: str, *, keep_open: bool = False) -> dict[str, Any]:
    """Open ``url`` in a new browser context (nothing cached) until the app is on screen:
    its title, the title's colour, how many requests it made and how many of them a page
    snapshot answered (in all, and of its first load: up to a second navigation)."""
    context = browser.new_context()
    page = context.new_page()
    answers: list[Any] = []
    page.on("response", lambda answer: answers.append(answer))
    page.goto(url)
    page.wait_for_selector("#title", timeout=60_000)
    page.wait_for_load_state("load")
    navigations = [i for i, a in enumerate(answers) if a.request.is_navigation_request()]
    first_load = answers[: navigations[1]] if len(navigations) > 1 else answers
    seen = {
        "firstLoad": len(first_load),
        "firstLoadFromSnapshot": sum(
            1 for a in first_load if a.headers.get("x-kontext-snapshot") == "hit"
        ),
        "title": page.inner_text("#title"),
        "color": page.evaluate("getComputedStyle(document.querySelector('#title')).color"),
        "requests": len(answers),
        "fromSnapshot": sum(1 for a in answers if a.headers.get("x-kontext-snapshot") == "hit"),
        "firstLoadMisses": [  # what the snapshot did not answer, for the assertion's message
            f"{a.status} {a.url}"
            for a in first_load
            if a.headers.get("x-kontext-snapshot") != "hit"
        ],
    }
    if keep_open:
        seen["page"] = page
    else:
        context.close()
    return seen


def test_a_killed_api_leaves_nothing_after_its_next_start(backend: str, tmp_path: Path) -> None:
    server = ApiServer.start(tmp_path, sandbox_backend=backend)
    with server.client() as api:
        sid = create_session(api, project_files())["sessionId"]
    assert sandbox_alive(backend, sid)
    os.kill(server.process.pid, signal.SIGKILL)  # no chance to clean up
    server.process.wait()
    if backend == "local":
        assert wait_for(lambda: not agent_pids(sid)), "the agent outlived the API"
    else:
        assert containers_of(sid)[0].status == "running"  # a container lives on...
    assert session_dir(server, sid).exists()  # nothing could remove it...
    ApiServer.start(tmp_path, sandbox_backend=backend).stop()  # ...until the next start
    assert not sandbox_alive(backend, sid)
    assert not session_dir(server, sid).exists()


def test_a_stopped_api_removes_its_sandboxes(backend: str, tmp_path: Path) -> None:
    server = ApiServer.start(tmp_path, sandbox_backend=backend)
    with server.client() as api:
        sid = create_session(api, project_files())["sessionId"]
    server.stop()
    assert not sandbox_alive(backend, sid)
    assert not session_dir(server, sid).exists()


@pytest.mark.distributed
def test_a_restarted_worker_serves_its_sessions_again(
    backend: str, tmp_path: Path, browser: Any
) -> None:
    """A worker killed outright: its containers run on and the restarted worker takes them
    over (the same Vite, no restart); local agents die with it and are started again."""
    cluster = Cluster.start(
        tmp_path / "cluster", ("w1",), sandbox_backend=backend, browser_ack_timeout_seconds=30
    )
    try:
        with cluster.api.client() as api:
            session = create_session(api, project_files())
            sid = session["sessionId"]
            push(api, sid, HEADER, header("Before the restart"))
            before = _sandbox_identity(backend, sid)

            worker = cluster.workers.pop("w1")
            worker.kill()
            cluster.add_worker("w1")
            restored = "restored on node w1"
            assert wait_for(lambda: restored in _logs(api, sid), 60), cluster.workers["w1"].log()
            assert wait_for(lambda: _active(api, sid), timeout=60)
            after = _sandbox_identity(backend, sid)
            if backend == "docker":
                assert after == before, "the container was replaced, not taken over"
                assert "took over the running sandbox" in _logs(api, sid)
            else:
                assert after != before, "the old agent should have died with its worker"

            page = browser.new_page()
            page.goto(session["previewUrl"])
            page.wait_for_function(
                "document.querySelector('#title')?.textContent === 'Before the restart'"
            )
            # The app on screen comes before its HMR socket is open: an update sent between
            # the two reaches no page and is acknowledged "none" (make test saw it once).
            assert wait_for(lambda: page.evaluate("window.__kontext?.connected === true"), 30)
            result = push(api, sid, HEADER, header("After the restart"))
            page.wait_for_function(
                "document.querySelector('#title').textContent === 'After the restart'"
            )
            assert acknowledged(cluster.api, sid, result["updateId"]) == "update"
            page.close()
            api.delete(f"/kontext/preview/{sid}")
            assert wait_for(lambda: not sandbox_alive(backend, sid))
    finally:
        cluster.stop()


def _active(api: httpx.Client, sid: str) -> bool:
    return bool(api.get(f"/kontext/preview/{sid}").json()["status"] == "active")


def _logs(api: httpx.Client, sid: str) -> str:
    return "\n".join(api.get(f"/kontext/preview/{sid}").json()["logs"])


def _sandbox_identity(backend: str, sid: str) -> tuple[str, ...]:
    """The container (id and start time), or the agent's pids."""
    if backend == "docker":
        (container,) = containers_of(sid)
        return (container.id, container.attrs["State"]["StartedAt"])
    deadline = time.monotonic() + 10
    while len(pids := agent_pids(sid)) != 1 and time.monotonic() < deadline:
        time.sleep(0.1)  # a killed worker's agent exits once its stdin closes
    return tuple(str(p) for p in sorted(pids))


def dev_server_env(backend: str, session_id: str) -> dict[str, str]:
    if backend == "local":
        (pid,) = agent_pids(session_id)
        raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    else:
        (container,) = containers_of(session_id)
        raw = [e.encode() for e in container.attrs["Config"]["Env"]]
    pairs = (e.decode().split("=", 1) for e in raw if b"=" in e)
    return dict(pairs)


def test_a_dev_server_runs_with_the_memory_settings(
    backend: str, server: ApiServer, api: httpx.Client
) -> None:
    """Issue 19: every dev server gets DEV_SERVER_ENV (mimalloc gives freed memory back,
    V8's young generation is small: about half the RSS of an idle session), both backends;
    the agent reports where its memory goes."""
    from kontext_preview.config import DEV_SERVER_ENV

    session = create_session(api, project_files())
    sid = session["sessionId"]
    env = dev_server_env(backend, sid)
    assert {k: env.get(k) for k in DEV_SERVER_ENV} == DEV_SERVER_ENV
    api.delete(f"/kontext/preview/{sid}")
