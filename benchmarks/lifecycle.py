"""Waking a hibernated preview and deploying, next to plain Vite doing the same, same run.

    python -m benchmarks.lifecycle [--rounds 5]

- resume: a hibernated session (dev server stopped, files kept), then Chromium opens
  its preview URL in a new context (nothing cached): the app from the page snapshot while
  the dev server starts (issue 19), and without a snapshot the "waking up" page, then the
  app. Timed from `goto` to the app's `#title` on screen, and to the page's HMR socket
  connected to the woken dev server. Plain Vite: a cold `vite` dev server start, timed from spawning
  it to the same `#title` on screen in Chromium.
- deploy: a full local deployment (Motoko type check of the backend + production
  `vite build` + publish; its `durationMs` from `deploy.succeeded`) next to a plain
  `vite build` of the same project.
Measurement only: nothing here fails on a number.
"""

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import on_screen, plain_vite_app, plain_vite_server, vite_command
from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.distributed.cluster import read_events
from tests.project import project_files
from tests.server import ApiServer

MOTOKO = "src/backend/main.mo"


def kontext_resume(
    browser: Any, rounds: int, *, snapshot: bool = True, live: list[float] | None = None
) -> list[float]:
    """Each round: the session hibernates, then a new browser context (nothing cached)
    opens the preview; ms to the app on screen (and in ``live``, to the page's HMR socket
    connected to the woken dev server). ``snapshot=False``: no page snapshot is kept
    (KONTEXT_SNAPSHOT_MAX_BYTES=0), the wake as it was before issue 19."""
    root = Path(tempfile.mkdtemp(prefix="kp-bench-"))
    server = ApiServer.start(
        root,
        hibernate_after_seconds=1,
        reap_interval_seconds=0.2,
        **({} if snapshot else {"snapshot_max_bytes": 0}),
    )
    times = []
    try:
        with server.client() as api:
            session = api.post(
                "/kontext/preview", params={"wait": "true"}, json={"files": project_files()}
            ).json()
            sid = session["sessionId"]
            on_screen(browser, session["previewUrl"], time.perf_counter())  # a page was seen
            after = None
            for _ in range(rounds):
                events = read_events(
                    server.base_url,
                    sid,
                    last_event_id=after,
                    until=lambda e: e.type == "session.hibernated",
                )
                after = events[-1].id
                page = browser.new_page()
                began = time.perf_counter()
                page.goto(session["previewUrl"])
                page.wait_for_selector("#title", timeout=60_000)
                times.append((time.perf_counter() - began) * 1000)
                if live is not None:
                    page.wait_for_function("window.__kontext?.connected", timeout=60_000)
                    live.append((time.perf_counter() - began) * 1000)
                page.close()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return times


def plain_cold_start(browser: Any, rounds: int) -> list[float]:
    return [plain_cold_start_once(browser) for _ in range(rounds)]


def plain_cold_start_once(
    browser: Any, project: str = "react-app", app: str = "src/frontend"
) -> float:
    """Plain `vite` on a copy of a test project: spawn to the app's #title in Chromium (ms)."""
    with plain_vite_app(project, app) as app_dir:
        page = browser.new_page()
        began = time.perf_counter()
        with plain_vite_server(app_dir, 41891):
            return on_screen(browser, "http://127.0.0.1:41891/", began, page)


def kontext_deploy(rounds: int) -> list[float]:
    root = Path(tempfile.mkdtemp(prefix="kp-bench-"))
    server = ApiServer.start(root)
    times = []
    try:
        with server.client() as api:
            files = project_files()
            sid = api.post("/kontext/preview", json={"files": files}).json()["sessionId"]
            original = next(f["content"] for f in files if f["name"] == MOTOKO)
            after = None
            for i in range(rounds):
                changed = original.replace("Hello, ", f"Hello {i}, ")
                api.post(
                    f"/kontext/preview/{sid}/update",
                    json={"files": [{"name": MOTOKO, "content": changed}]},
                )
                events = read_events(
                    server.base_url,
                    sid,
                    last_event_id=after,
                    until=lambda e: e.type in ("deploy.succeeded", "deploy.failed"),
                    timeout=300,
                )
                after = events[-1].id
                if events[-1].type != "deploy.succeeded":
                    raise RuntimeError(f"deployment failed: {events[-1].data}")
                times.append(float(events[-1].data["durationMs"]))
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return times


def plain_build(rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        with plain_vite_app() as app:
            began = time.perf_counter()
            subprocess.run(
                vite_command("build"),
                cwd=app,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            times.append((time.perf_counter() - began) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        live: list[float] = []
        rows = {
            "resume: kontext (hibernated → app)": kontext_resume(browser, args.rounds, live=live),
            "resume: kontext (→ HMR connected)": live,
            "resume: kontext, no snapshot (→ app)": kontext_resume(
                browser, args.rounds, snapshot=False
            ),
            "resume: plain vite (cold start → app)": plain_cold_start(browser, args.rounds),
        }
        browser.close()
    rows["deploy: kontext local (motoko + build)"] = kontext_deploy(args.rounds)
    rows["deploy: plain vite build"] = plain_build(args.rounds)
    print(f"{args.rounds} rounds each\n")
    print(f"{'what':<42}{'median ms':>10}{'min ms':>9}{'max ms':>9}")
    for name, values in rows.items():
        print(f"{name:<42}{statistics.median(values):>10.0f}{min(values):>9.0f}{max(values):>9.0f}")


if __name__ == "__main__":
    main()
