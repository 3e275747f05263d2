"""Full deployments: the local pipeline (a real Motoko compile, a real `vite build`, the site
published on its own origin), the command deployer, the queue, and the fallback a crashing
preview falls back to."""

import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import create_session, push, replace_file
from tests.distributed.cluster import SseEvent, read_events
from tests.project import project_file, project_files
from tests.server import ApiServer, agent_pids, wait_for

pytestmark = [pytest.mark.vite]
CONFIG = "src/frontend/vite.config.ts"
MOTOKO = "src/backend/main.mo"

# The dev server dies 1.5 s after every start; `vite build` is unaffected.
CRASHING_CONFIG = """import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig(({ command }) => {
  if (command === "serve") setTimeout(() => process.exit(3), 1500);
  return { plugins: [react()] };
});
"""

FIXED_CONFIG = """import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({ plugins: [react()] });
"""


def header_tsx(text: str) -> str:
    return f'export default function Header() {{\n  return <h1 id="title">{text}</h1>;\n}}\n'


TYPE_ERROR = """actor {
  public query func greet(name : Text) : async Text {
    return "Hello, " # name # "!";
  };

  public func count() : async Nat {
    "not a number"
  };
};
"""


def until_deployed(event: SseEvent) -> bool:
    return event.type in ("deploy.succeeded", "deploy.failed")


def test_a_crash_loop_falls_back_to_a_deployment_the_preview_follows(
    tmp_path: Path, files: list[dict[str, Any]], browser: Any
) -> None:
    """A preview that cannot serve shows its fallback build at its own address; the open
    page moves to a newer build when one is published, and back to the live preview when
    the project is fixed, without anyone reloading it."""
    server = ApiServer.start(tmp_path, restart_limit=2, restart_window_seconds=120)
    try:
        with server.client() as api:
            session = create_session(api, replace_file(files, CONFIG, CRASHING_CONFIG))
            sid = session["sessionId"]
            events = read_events(server.base_url, sid, until=until_deployed, timeout=120)
            kinds = [e.type for e in events]
            assert kinds.count("session.ready") == 3, kinds  # the start and two restarts
            assert "session.failed" in kinds and kinds[-1] == "deploy.succeeded", kinds
            queued = next(e for e in events if e.type == "deploy.queued")
            assert queued.data["fallback"] is True
            assert not agent_pids(sid)

            status = api.get(f"/kontext/preview/{sid}").json()
            assert status["status"] == "failed" and "kept stopping (3 times" in status["error"]
            assert status["fallback"] == status["error"]
            deploy_url = f"http://deploy-{sid}.localhost:{server.port}/"
            assert status["deploymentUrl"] == deploy_url
            assert status["deployments"][-1]["status"] == "succeeded"

            # The build is served at the preview's own address, a client route included.
            served = server.preview_get(sid, "/some/route?x=1")
            assert served.status_code == 200 and "/__kontext/route" in served.text
            assert served.headers["cache-control"] == "no-store"

            # Chromium shows the built app (static files, no dev server) at the preview URL.
            page = browser.new_page()
            page.goto(session["previewUrl"])
            page.wait_for_selector("#title")
            assert page.url == session["previewUrl"]
            assert page.inner_text("#title") == "Hello from Kontext"
            assert not page.evaluate("'__kontext' in window")  # no dev client in the build

            # Still crashing: the update is deployed instead, and the open page follows.
            push(api, sid, "src/frontend/src/Header.tsx", header_tsx("Newer build"))
            # (The dev server lives 1.5 s after each start: the page may show the live app
            # between; the build it settles on has no dev client.)
            try:
                page.wait_for_function(
                    "document.querySelector('#title')?.textContent === 'Newer build'"
                    " && !('__kontext' in window)",
                    timeout=150_000,
                )
            except Exception:  # what the page and the session were at, for the next reader
                shown = page.evaluate(
                    "[location.href, document.querySelector('#title')?.textContent,"
                    " '__kontext' in window, document.body?.innerText.slice(0, 300)]"
                )
                view = api.get(f"/kontext/preview/{sid}").json()
                raise AssertionError(
                    f"the page did not follow to the newer build: page {shown}; status "
                    f"{view['status']}, deployments {[d['status'] for d in view['deployments']]}, "
                    f"logs {view.get('logs', [])[-15:]}"
                ) from None

            # Fixed: the page comes back to the live preview by itself.
            push(api, sid, CONFIG, FIXED_CONFIG)
            page.wait_for_function("'__kontext' in window", timeout=90_000)
            page.wait_for_selector("#title")
            assert page.inner_text("#title") == "Newer build"
            assert page.url == session["previewUrl"]
            page.close()

            api.delete(f"/kontext/preview/{sid}")
            assert not (tmp_path / "deployments" / sid).exists()
            gone = httpx.get(
                server.base_url, headers={"host": f"deploy-{sid}.localhost"}, trust_env=False
            )
            assert gone.status_code == 404
    finally:
        server.stop()


def test_a_motoko_type_error_is_reported_with_file_and_line(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    sid = create_session(api, files)["sessionId"]
    result = push(api, sid, MOTOKO, TYPE_ERROR)
    assert result["strategy"] == "full-deploy"
    deployment_id = result["deploy"]["id"]
    events = read_events(server.base_url, sid, until=until_deployed, timeout=120)
    failed = events[-1]
    assert failed.type == "deploy.failed" and failed.data["deploymentId"] == deployment_id
    [diagnostic] = failed.data["diagnostics"]
    assert diagnostic["file"] == MOTOKO and diagnostic["line"] == 7
    assert diagnostic["severity"] == "error" and diagnostic["code"] == "M0050"
    assert "does not have expected type" in diagnostic["message"]
    assert f"{MOTOKO}:7" in failed.data["error"]
    progress = [e.data["line"] for e in events if e.type == "deploy.progress"]
    assert any("type-checking 1 file" in line for line in progress), progress
    status = api.get(f"/kontext/preview/{sid}").json()
    assert status["deployments"][-1]["diagnostics"][0]["line"] == 7
    assert status["status"] == "active"  # the frontend preview is untouched
    api.delete(f"/kontext/preview/{sid}")


def test_a_failed_build_is_reported_as_plain_text(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    """Vite's and Rolldown's colours are terminal escapes: the chat (and its AI) must get the
    words, and the error must be the build's message, not the agent's JSON lines."""
    sid = create_session(api, files)["sessionId"]
    motoko = next(f["content"] for f in files if f["name"] == MOTOKO)
    response = api.post(
        f"/kontext/preview/{sid}/update",
        json={
            "files": [
                {"name": "src/frontend/src/broken.ts", "content": "export const x = (;\n"},
                {"name": "src/frontend/src/main.tsx", "content": 'import "./broken";\n'},
                {"name": MOTOKO, "content": motoko + "\n// touched\n"},
            ]
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["strategy"] == "full-deploy"
    events = read_events(server.base_url, sid, until=until_deployed, timeout=120)
    failed = events[-1]
    assert failed.type == "deploy.failed", [e.type for e in events]
    error = failed.data["error"]
    assert "broken.ts" in error, error
    assert "\x1b" not in error and '{"type"' not in error, error
    progress = [e.data["line"] for e in events if e.type == "deploy.progress"]
    assert progress and not [line for line in progress if "\x1b" in line], progress
    status = api.get(f"/kontext/preview/{sid}").json()
    assert "\x1b" not in status["deployments"][-1]["error"]
    assert not [line for line in status["logs"] if "\x1b" in line], status["logs"]
    api.delete(f"/kontext/preview/{sid}")


DEPLOY_SCRIPT = """
import os, pathlib, sys, time
main = pathlib.Path("src/backend/main.mo").read_text()
print("deploying", os.environ["KONTEXT_DEPLOYMENT_ID"], "pid", os.getpid(), flush=True)
print("found src/backend/main.mo:", len(main), "bytes", flush=True)
if "SLOWLY" in main:
    time.sleep(1.5)
if "FOREVER" in main:
    time.sleep(600)
print("KONTEXT_DEPLOYMENT_URL=https://app.example.invalid/" + os.environ["KONTEXT_SESSION_ID"])
"""


def test_the_command_deployer_streams_logs_queues_supersedes_and_times_out(
    tmp_path: Path, files: list[dict[str, Any]]
) -> None:
    script = tmp_path / "deploy.py"
    script.write_text(textwrap.dedent(DEPLOY_SCRIPT))
    server = ApiServer.start(
        tmp_path / "data",
        deployer="command",
        deploy_command=f"{sys.executable} {script}",
        deploy_timeout_seconds=4,
    )
    try:
        with server.client() as api:
            sid = create_session(api, files)["sessionId"]
            original = next(f["content"] for f in files if f["name"] == MOTOKO)

            def greeting(text: str) -> str:  # a real backend change (comments are not)
                return original.replace("Hello, ", text)

            first = push(api, sid, MOTOKO, greeting("SLOWLY 1, "))["deploy"]
            wait_for(
                lambda: (
                    api.get(f"/kontext/preview/{sid}").json()["deployments"][0]["status"]
                    == "running"
                )
            )
            second = push(api, sid, MOTOKO, greeting("Hi 2, "))["deploy"]
            third = push(api, sid, MOTOKO, greeting("Hi 3, "))["deploy"]
            assert len({first["id"], second["id"], third["id"]}) == 3

            def statuses() -> list[str]:
                history = api.get(f"/kontext/preview/{sid}").json()["deployments"]
                return [d["status"] for d in history]

            assert wait_for(lambda: statuses() == ["succeeded", "superseded", "succeeded"], 60), (
                statuses()
            )
            status = api.get(f"/kontext/preview/{sid}").json()
            assert status["deploymentUrl"] == f"https://app.example.invalid/{sid}"
            events = read_events(
                server.base_url,
                sid,
                until=lambda e: (
                    e.type == "deploy.succeeded" and e.data["deploymentId"] == third["id"]
                ),
            )
            lines = progress_lines(events)
            assert any(line.startswith("found src/backend/main.mo:") for line in lines), lines
            superseded = [e.data for e in events if e.type == "deploy.superseded"]
            assert superseded == [{"deploymentId": second["id"], "by": third["id"], **_at(events)}]

            # A deployment that runs too long is stopped, process and all.
            push(api, sid, MOTOKO, greeting("FOREVER, "))
            events = read_events(
                server.base_url,
                sid,
                last_event_id=events[-1].id,
                until=until_deployed,
                timeout=60,
            )
            assert events[-1].type == "deploy.failed"
            assert "longer than 4 s" in events[-1].data["error"]
            started = progress_lines(events)[0]
            pid = int(started.split(" pid ")[1])
            assert wait_for(lambda: not Path(f"/proc/{pid}").exists()), "the command outlived"
            api.delete(f"/kontext/preview/{sid}")
    finally:
        server.stop()


def progress_lines(events: list[SseEvent]) -> list[str]:
    """The output lines of deploy.progress events (each holds the lines of half a second)."""
    return [
        line for e in events if e.type == "deploy.progress" for line in e.data["line"].split("\n")
    ]


SCHEDULED_SCRIPT = """
import os, sys
print("niceness", os.nice(0), flush=True)
print("idle", os.sched_getscheduler(0) == os.SCHED_IDLE, flush=True)
for i in range(50):
    print("step", i, flush=True)
print("KONTEXT_DEPLOYMENT_URL=https://app.example.invalid/" + os.environ["KONTEXT_DEPLOYMENT_ID"])
"""


def test_deployments_wait_for_quiet_run_last_and_skip_what_is_published(
    tmp_path: Path, files: list[dict[str, Any]]
) -> None:
    """A burst of backend edits is built once, after a quiet moment, at the lowest CPU
    priority, its output in a few events; going back to what is published builds nothing."""
    script = tmp_path / "deploy.py"
    script.write_text(textwrap.dedent(SCHEDULED_SCRIPT))
    server = ApiServer.start(
        tmp_path / "data",
        deployer="command",
        deploy_command=f"{sys.executable} {script}",
        deploy_quiet_seconds=1.5,
    )
    try:
        with server.client() as api:
            sid = create_session(api, files)["sessionId"]
            original = next(f["content"] for f in files if f["name"] == MOTOKO)

            def greeting(text: str) -> str:
                return original.replace("Hello, ", text)

            first = push(api, sid, MOTOKO, greeting("A, "))["deploy"]
            second = push(api, sid, MOTOKO, greeting("B, "))["deploy"]
            events = read_events(server.base_url, sid, until=until_deployed, timeout=60)
            kinds = [e.type for e in events]
            assert kinds.count("deploy.started") == 1 and events[-1].type == "deploy.succeeded"
            assert events[-1].data["deploymentId"] == second["id"] != first["id"]
            queued = [e for e in events if e.type == "deploy.queued"][-1]
            started = next(e for e in events if e.type == "deploy.started")
            assert started.data["deploymentId"] == second["id"]
            assert started.data["at"] - queued.data["at"] >= 1.4, (queued.data, started.data)

            lines = progress_lines(events)
            assert "niceness 19" in lines and "idle True" in lines, lines[:3]
            assert [f"step {i}" for i in range(50)] == [x for x in lines if x.startswith("step")]
            batches = [e for e in events if e.type == "deploy.progress"]
            assert len(batches) <= 10 and sum(e.data["lines"] for e in batches) == len(lines)

            # Away and back to what is published before the wait is over: nothing to build.
            away = push(api, sid, MOTOKO, greeting("C, "))["deploy"]
            back = push(api, sid, MOTOKO, greeting("B, "))["deploy"]
            assert back["id"] == second["id"] and back["status"] == "succeeded", back
            history = api.get(f"/kontext/preview/{sid}").json()["deployments"]
            assert [d["status"] for d in history] == ["superseded", "succeeded", "superseded"]
            assert history[-1]["id"] == away["id"]
            time.sleep(2.5)  # past the quiet period: still nothing started
            events = read_events(server.base_url, sid, last_event_id=events[-1].id, timeout=1)
            assert "deploy.started" not in [e.type for e in events], [e.type for e in events]
            api.delete(f"/kontext/preview/{sid}")
    finally:
        server.stop()


def _at(events: list[SseEvent]) -> dict[str, Any]:
    """Events carry their own time stamp: match any."""
    found = next(e.data for e in events if e.type == "deploy.superseded")
    return {k: v for k, v in found.items() if k in ("at", "type")}


def test_a_deploy_host_without_a_published_site_is_a_404(server: ApiServer) -> None:
    response = httpx.get(
        server.base_url + "/index.html",
        headers={"host": "deploy-nosuchsession.localhost"},
        trust_env=False,
    )
    assert response.status_code == 404
    assert 'data-kontext-page="not-deployed"' in response.text


def test_an_astro_projects_deployment_is_astros_own_build(
    server: ApiServer, api: httpx.Client, browser: Any
) -> None:
    """A framework's deployment is its production build (issue 33): `astro build` of the
    project as Astro's docs write it, served on the deployment's origin, its React island
    hydrated there."""
    sid = create_session(api, project_files("astro-app"))["sessionId"]
    page = "src/pages/index.astro"
    source = project_file(page, "astro-app")
    result = push(api, sid, page, source.replace("---\n\n", "const built = true;\n---\n\n", 1))
    assert result["strategy"] == "full-deploy", result
    events = read_events(server.base_url, sid, until=until_deployed, timeout=180)
    assert events[-1].type == "deploy.succeeded", [(e.type, e.data) for e in events[-5:]]
    progress = [e.data["line"] for e in events if e.type == "deploy.progress"]
    assert any("Complete!" in line or "page(s) built" in line for line in progress), progress
    site = browser.new_page()
    try:
        site.goto(f"http://deploy-{sid}.localhost:{server.port}/")
        site.wait_for_selector("#title")
        assert site.inner_text("#title") == "Hello from Astro"
        assert not site.locator("script[src*='@kontext'], script[src*='@vite']").count()
        site.click("#count")  # hydrated: React answers the click
        site.wait_for_function("document.querySelector('#count').textContent === 'count is 1'")
    finally:
        site.close()
    api.delete(f"/kontext/preview/{sid}")


def test_a_nextjs_deployment_is_refused_at_once_saying_why(
    server: ApiServer, api: httpx.Client
) -> None:
    """Next's production build is a server, which the fallback (static files) cannot run:
    the deployment fails at once, saying so, with nothing installed for it; the live preview
    goes on."""
    sid = create_session(api, project_files("next-app"))["sessionId"]
    component = "app/counter.tsx"
    source = project_file(component, "next-app")
    result = push(api, sid, component, source.replace("useState(0)", "useState(1)"))
    assert result["strategy"] == "full-deploy", result
    events = read_events(server.base_url, sid, until=until_deployed, timeout=60)
    assert events[-1].type == "deploy.failed", [(e.type, e.data) for e in events[-5:]]
    assert "next start" in events[-1].data["error"], events[-1].data
    progress = [e.data["line"] for e in events if e.type == "deploy.progress"]
    assert not any("npm" in line for line in progress), progress
    assert api.get(f"/kontext/preview/{sid}").json()["status"] == "active"
    api.delete(f"/kontext/preview/{sid}")
