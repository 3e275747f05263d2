"""A component edit of a session while a full deployment of the same session runs, against
the same edit with no deployment running, same run.

    python -m benchmarks.deploy_load [--edits 20]

The deployment is the local deployer's (Motoko type check + production `vite build`, at
the lowest CPU priority); a backend edit queues one, and the quiet period is off
(KONTEXT_DEPLOY_QUIET_SECONDS=0) so it starts at once. Each "busy" edit is made while
the session's latest deployment is running; each "idle" one while none is; timed from
just before POST /update to the new text in the preview's page in Chromium.
Measurement only: nothing here fails on a number. Goal (issue 18): busy within 1.2x idle.
"""

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import chromium, spread, write_json
from tests.project import project_files
from tests.server import ApiServer, wait_for

HEADER = "src/frontend/src/Header.tsx"
MOTOKO = "src/backend/main.mo"


def header(text: str) -> str:
    return f'export default function Header() {{\n  return <h1 id="title">{text}</h1>;\n}}\n'


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--edits", type=int, default=20)
    args = parser.parse_args()
    server = ApiServer.start(
        Path(tempfile.mkdtemp(prefix="kp-bench-deploy-")), deploy_quiet_seconds=0
    )
    idle: list[float] = []
    busy: list[float] = []
    try:
        with server.client() as api, chromium() as browser:
            files = project_files()
            sid = api.post(
                "/kontext/preview", params={"wait": "true"}, json={"files": files}
            ).json()["sessionId"]
            motoko = next(f["content"] for f in files if f["name"] == MOTOKO)
            page = browser.new_page()
            page.goto(f"http://preview-{sid}.localhost:{server.port}/")
            page.wait_for_selector("#title")

            def latest(client: httpx.Client) -> str:
                deployments = client.get(f"/kontext/preview/{sid}").json()["deployments"]
                return str(deployments[-1]["status"]) if deployments else "none"

            def edit(text: str) -> float:
                began = time.perf_counter()
                api.post(
                    f"/kontext/preview/{sid}/update",
                    json={"files": [{"name": HEADER, "content": header(text)}]},
                )
                page.wait_for_function(
                    "t => document.querySelector('#title')?.textContent === t",
                    arg=text,
                    polling="raf",
                )
                return (time.perf_counter() - began) * 1000

            for i in range(args.edits):
                wait_for(lambda: latest(api) in ("none", "succeeded", "failed"), timeout=120)
                idle.append(edit(f"idle {i}"))
                api.post(
                    f"/kontext/preview/{sid}/update",
                    json={
                        "files": [{"name": MOTOKO, "content": motoko.replace("Hello", f"Hi {i}")}]
                    },
                )
                if wait_for(lambda: latest(api) == "running", timeout=30, interval=0.02):
                    busy.append(edit(f"busy {i}"))
    finally:
        server.stop()
    results: dict[str, Any] = {"idle": spread(idle), "duringDeployment": spread(busy)}
    ratio = results["duringDeployment"]["p50"] / results["idle"]["p50"]
    print(
        f"component edit → DOM, p50 / p95: idle {results['idle']['p50']:.1f} / "
        f"{results['idle']['p95']:.1f} ms; while a deployment of the session runs "
        f"{results['duringDeployment']['p50']:.1f} / {results['duringDeployment']['p95']:.1f} ms "
        f"(n={len(busy)}); p50 ratio {ratio:.2f} (goal ≤ 1.2)"
    )
    print(write_json("deploy_load.json", results))


if __name__ == "__main__":
    main()
