"""Session start per sandbox backend, beside plain Vite, same run: create → app on screen.

    python -m benchmarks.sandbox_start [--rounds 5]

For each backend an embedded API server; each round creates a session of the test project
(POST /kontext/preview?wait=true), opens its preview in headless Chromium and waits for the
app's #title, then deletes the session. Timed: create → active (the API's answer) and
create → app on screen. Plain Vite: spawning `vite` on a copy of the project → the same
#title. "cold" is the first round after the kernel's page cache is dropped (the image's
layers, Node and node_modules read from disk again; root only, else the first round);
"warm" the median of the others. The Docker backend is also timed on the same app in a
folder the image has no pre-built dependency cache for (Vite pre-bundles React itself),
and both backends with a warm pool of one (a session claims a started dev server).
Measurement only: nothing here fails on a number.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.lifecycle import plain_cold_start_once
from kontext_preview.config import REPO_ROOT
from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.project import project_files
from tests.server import ApiServer

RESULTS = REPO_ROOT / "benchmarks" / "results" / "sandbox_start.json"
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


def versions(browser: Any) -> dict[str, str]:
    docker = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True
    ).stdout.strip()
    vite = json.loads(
        (REPO_ROOT / "sandbox-images/template/node_modules/vite/package.json").read_text()
    )["version"]
    return {
        "node": subprocess.run(
            ["node", "--version"], capture_output=True, text=True
        ).stdout.strip(),
        "vite": vite,
        "chromium": browser.version,
        "docker engine": docker or "none",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.release()}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    files = project_files()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        rows = {
            "plain vite (spawn → app)": plain_rounds(browser, args.rounds),
            "kontext, local backend": kontext_rounds(browser, "local", args.rounds, files),
            "kontext, local, warm pool": kontext_rounds(browser, "local", args.rounds, files, 1),
            "kontext, docker backend": kontext_rounds(browser, "docker", args.rounds, files),
            "kontext, docker, warm pool": kontext_rounds(browser, "docker", args.rounds, files, 1),
            "kontext, docker, no pre-built cache": kontext_rounds(
                browser, "docker", args.rounds, elsewhere(files)
            ),
        }
        about = versions(browser)
        browser.close()
    cold_note = "page cache dropped" if drop_page_cache() else "first round (cache not dropped)"
    print(f"{args.rounds} rounds each; cold = {cold_note}; warm = median of the rest")
    print(", ".join(f"{k} {v}" for k, v in about.items()) + "\n")
    header = f"{'what':<38}{'cold active':>12}{'cold app':>10}{'warm active':>13}{'warm app':>10}"
    print(header + "   (ms)")
    report = {}
    for name, values in rows.items():
        cold, warm = values[0], values[1:] or values
        warm_active = statistics.median(v[0] for v in warm)
        warm_app = statistics.median(v[1] for v in warm)
        print(f"{name:<38}{cold[0]:>12.0f}{cold[1]:>10.0f}{warm_active:>13.0f}{warm_app:>10.0f}")
        report[name] = {"cold": cold, "warm": {"active": warm_active, "app": warm_app}}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"versions": about, "rounds": args.rounds, "rows": report}, indent=2)
    )
    print(f"\nwritten to {RESULTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
