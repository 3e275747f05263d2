"""Session start per sandbox backend, beside plain Vite, same run: create → app on screen.

    python -m benchmarks.sandbox_start [--rounds 7]

For each backend an embedded API server; each round creates a session of the test project
(POST /kontext/preview?wait=true), opens its preview in headless Chromium and waits for the
app's #title, then deletes the session. Timed: create → active (the API's answer) and
create → app on screen ("first paint"). Plain Vite: spawning `vite` on a copy of the
project → the same #title. Each backend starts cold (no warm pool) and from a warm pool of
one (a session claims a started dev server). "first" is round 1, after the kernel's page
cache is dropped (the image's layers, Node and node_modules read from disk again; root
only); p50/p95 are over the other rounds. The Docker backend is also timed on the same app
in a folder the image has no pre-built dependency cache for (Vite pre-bundles React).
Measurement only: nothing here fails on a number.
"""

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import chromium, spread, versions, write_json
from benchmarks.lifecycle import plain_cold_start_once
from tests.project import project_files
from tests.server import ApiServer

POOL_REFILL_WAIT = 3.0  # s: the slot a round claimed is started again meanwhile


def drop_page_cache() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def elsewhere(files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same app in web/ instead of src/frontend/: no pre-built cache for that root."""
    return [{**f, "name": f["name"].replace("src/frontend/", "web/", 1)} for f in files]


def kontext_rounds(
    browser: Any, backend: str, rounds: int, files: list[dict[str, Any]], pool: int = 0
) -> list[tuple[float, float]]:
    """(create → active, create → app on screen) in ms, per round; round 0 starts cold.
    With a warm pool, each round waits for the pool to be full again first."""
    root = Path(tempfile.mkdtemp(prefix="kp-bench-"))
    server = ApiServer.start(
        root, sandbox_backend=backend, pool_size=pool, pool_refill_delay_seconds=0.5
    )
    out = []
    try:
        with server.client() as api:
            for index in range(rounds):
                if pool:
                    time.sleep(POOL_REFILL_WAIT)
                if index == 0:
                    drop_page_cache()
                page = browser.new_page()
                began = time.perf_counter()
                session = api.post(
                    "/kontext/preview", params={"wait": "true"}, json={"files": files}
                ).json()
                active = (time.perf_counter() - began) * 1000
                if session.get("status") != "active":
                    raise RuntimeError(f"{backend}: session did not start: {session}")
                page.goto(session["previewUrl"])
                page.wait_for_selector("#title", timeout=60_000)
                out.append((active, (time.perf_counter() - began) * 1000))
                page.close()
                api.delete(f"/kontext/preview/{session['sessionId']}")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return out


def plain_rounds(browser: Any, rounds: int) -> list[tuple[float, float]]:
    out = []
    for index in range(rounds):
        if index == 0:
            drop_page_cache()
        paint = plain_cold_start_once(browser)
        out.append((float("nan"), paint))
    return out


def run(browser: Any, rounds: int) -> dict[str, dict[str, Any]]:
    """Per row: the first round (page cache dropped) and p50/p95 of the rest, of create →
    active and create → app on screen (ms)."""
    files = project_files()
    rows = {
        "plain vite (spawn → app)": plain_rounds(browser, rounds),
        "local, cold start": kontext_rounds(browser, "local", rounds, files),
        "local, warm pool": kontext_rounds(browser, "local", rounds, files, 1),
        "docker, cold start": kontext_rounds(browser, "docker", rounds, files),
        "docker, warm pool": kontext_rounds(browser, "docker", rounds, files, 1),
        "docker, no pre-built cache": kontext_rounds(browser, "docker", rounds, elsewhere(files)),
    }
    report = {}
    for name, values in rows.items():
        rest = values[1:] or values
        report[name] = {
            "first": {"active": values[0][0], "app": values[0][1]},
            "active": spread([v[0] for v in rest]),
            "app": spread([v[1] for v in rest]),
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with chromium() as browser:
        report = run(browser, args.rounds)
        about = versions(browser)
    cold = "page cache dropped" if drop_page_cache() else "no cache drop (not root)"
    print(", ".join(f"{k} {v}" for k, v in about.items()))
    print(f"{args.rounds} rounds each; first = round 1 ({cold}); p50/p95 of the others (ms)\n")
    print(f"{'what':<30}{'first active/app':>18}{'active p50/p95':>16}{'app p50/p95':>14}")
    for name, row in report.items():
        first = f"{row['first']['active']:.0f}/{row['first']['app']:.0f}"
        active = f"{row['active']['p50']:.0f}/{row['active']['p95']:.0f}"
        app = f"{row['app']['p50']:.0f}/{row['app']['p95']:.0f}"
        print(f"{name:<30}{first:>18}{active:>16}{app:>14}")
    print(
        write_json("sandbox_start.json", {"versions": about, "rounds": args.rounds, "rows": report})
    )


if __name__ == "__main__":
    main()
