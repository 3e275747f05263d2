"""A preview's page load through the preview proxy, against the same dev server direct.

    python -m benchmarks.page_load [--loads 12]

One session (local backend) of the test project; headless Chromium loads it, each time in a
new browser context (an empty cache, as a new visitor), alternately through the proxy
(`preview-<id>.localhost`) and straight from its Vite on 127.0.0.1. Timed from `goto` to
the app's #title on screen, and the navigation's load event. Measurement only.
"""

import argparse
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import chromium, spread, versions, write_json
from tests.project import project_files
from tests.server import ApiServer

LOAD_EVENT = "performance.getEntriesByType('navigation')[0].loadEventEnd"


def load_once(browser: Any, url: str) -> tuple[float, float]:
    context = browser.new_context()
    page = context.new_page()
    began = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("#title")
    on_screen = (time.perf_counter() - began) * 1000
    page.wait_for_function(f"{LOAD_EVENT} > 0")
    load_event = float(page.evaluate(LOAD_EVENT))
    context.close()
    return on_screen, load_event


def run(browser: Any, loads: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="kp-bench-"))
    server = ApiServer.start(root)
    try:
        with server.client() as api:
            session = api.post(
                "/kontext/preview", params={"wait": "true"}, json={"files": project_files()}
            ).json()
            logs = api.get(f"/kontext/preview/{session['sessionId']}").json()["logs"]
            port = next(
                m.group(1) for m in map(re.compile(r"ready on port (\d+)").search, logs) if m
            )
            urls = {"proxy": session["previewUrl"], "direct": f"http://127.0.0.1:{port}/"}
            times: dict[str, list[tuple[float, float]]] = {"proxy": [], "direct": []}
            load_once(browser, urls["proxy"])  # Vite transforms everything once
            for _ in range(loads):
                for way, url in urls.items():
                    times[way].append(load_once(browser, url))
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    report: dict[str, Any] = {
        way: {
            "on_screen": spread([t[0] for t in values]),
            "load_event": spread([t[1] for t in values]),
        }
        for way, values in times.items()
    }
    report["ratio"] = report["proxy"]["on_screen"]["p50"] / report["direct"]["on_screen"]["p50"]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loads", type=int, default=12)
    args = parser.parse_args()
    with chromium() as browser:
        report = run(browser, args.loads)
        about = versions(browser)
    print(", ".join(f"{k} {v}" for k, v in about.items()))
    print(f"{args.loads} loads each, new browser context each (ms)\n")
    for way in ("direct", "proxy"):
        row = report[way]
        print(
            f"{way:<8} app on screen p50 {row['on_screen']['p50']:.0f} p95 "
            f"{row['on_screen']['p95']:.0f}; load event p50 {row['load_event']['p50']:.0f}"
        )
    print(f"ratio proxy/direct (app on screen, p50): {report['ratio']:.2f}")
    print(write_json("page_load.json", {"versions": about, **report}))


if __name__ == "__main__":
    main()
