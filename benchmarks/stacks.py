"""Projects as users send them: create → app on screen, beside plain `npm install && vite`.

    python -m benchmarks.stacks [--rounds 5]

Three projects, each on both sandbox backends and with plain npm + Vite, same run:

- template app: the test project (tests/fixtures/react-app), which the Vite template
  satisfies;
- AI-stack app: a shadcn/ui app as AI app builders make it (tests/fixtures/ai-stack-app:
  68 dependencies, React 18, Vite 5, Tailwind 3, Radix, a router), which the stack
  template `react18-vite5-tailwind3` satisfies;
- AI-stack + 1 package: the same with `is-odd@3.0.1` added, which no template has;
- the AI-stack app again, taking over a warm slot of its stack (KONTEXT_POOL_TEMPLATES),
  the pool full and settled (POOL_SETTLE) again before each round.

kontext-preview: an embedded API server per backend (no warm pool), each round a new
session (POST /kontext/preview?wait=true), Chromium opens its preview and waits for the
app's `#title`; timed from the POST. Plain: a fresh copy of the project, `npm install
--ignore-scripts --no-audit --no-fund --prefer-offline`, then `vite` spawned; timed from
npm's start to the same `#title`. Both use a warm npm cache (the machine's for plain
npm, the server's own for kontext-preview, warmed by a round that is not counted).
Figures: p50/p95 ms over the rounds. Measurement only: nothing here fails on a number.
"""

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import chromium, on_screen, spread, versions, write_json
from tests.project import project_files
from tests.server import ApiServer, ready_slots, wait_for

STACK = "stacks/react18-vite5-tailwind3"
# s: a slot is "ready" when its Vite listens; it goes on pre-bundling the stack (about 50
# packages, CPU-bound) for a few seconds, which would be timed against the next round.
POOL_SETTLE = 8.0
PORT = 41893
NPM_INSTALL = ["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"]
EXTRA = ("is-odd", "3.0.1")
Files = list[dict[str, Any]]


def with_extra(files: Files, package_json: str) -> Files:
    out = []
    for entry in files:
        if entry["name"] == package_json:
            package = json.loads(entry["content"])
            package["dependencies"][EXTRA[0]] = EXTRA[1]
            entry = {**entry, "content": json.dumps(package, indent=2)}
        out.append(entry)
    return out


PROJECTS: dict[str, tuple[Files, str]] = {
    # name: (files, the app's folder)
    "template app": (project_files("react-app"), "src/frontend"),
    "AI-stack app": (project_files("ai-stack-app"), "."),
    "AI-stack + 1 package": (with_extra(project_files("ai-stack-app"), "package.json"), "."),
}


def kontext_rounds(
    browser: Any, backend: str, files: Files, rounds: int, pool: str | None = None
) -> list[float]:
    """Rounds of create → app on screen (ms); ``pool``: a warm pool of one slot of that
    template, full again before each round."""
    root = Path(tempfile.mkdtemp(prefix="kp-bench-"))
    extra: dict[str, Any] = {"pool_size": 0}
    if pool:
        extra = {"pool_size": 1, "pool_templates": [pool], "pool_refill_delay_seconds": 0.5}
    server = ApiServer.start(root, sandbox_backend=backend, **extra)
    out = []
    try:
        with server.client() as api:
            for index in range(rounds + 1):  # round 0 warms the server's npm cache
                if pool and not wait_for(
                    lambda i=index: len(ready_slots("".join(server.output))) > i, timeout=300
                ):
                    raise RuntimeError(f"{backend}: no warm slot of {pool}")
                if pool:
                    time.sleep(POOL_SETTLE)
                began = time.perf_counter()
                session = api.post(
                    "/kontext/preview", params={"wait": "true"}, json={"files": files}
                ).json()
                if session.get("status") != "active":
                    raise RuntimeError(f"{backend}: session did not start: {session}")
                took = on_screen(browser, session["previewUrl"], began)
                if index:
                    out.append(took)
                api.delete(f"/kontext/preview/{session['sessionId']}")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return out


def plain_rounds(browser: Any, files: Files, app: str, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        root = Path(tempfile.mkdtemp(prefix="vite-bench-"))
        try:
            for entry in files:
                path = root / entry["name"]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(entry["content"])
            app_dir = (root / app).resolve()
            began = time.perf_counter()
            subprocess.run(
                NPM_INSTALL,
                cwd=app_dir,
                check=True,
                capture_output=True,
            )
            vite = subprocess.Popen(
                ["node", "node_modules/vite/bin/vite.js", "--port", str(PORT), "--strictPort"],
                cwd=app_dir,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                out.append(on_screen(browser, f"http://localhost:{PORT}/", began))
            finally:
                vite.terminate()
                vite.wait()
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return out


def run(browser: Any, rounds: int) -> dict[str, dict[str, dict[str, float]]]:
    """{project: {"plain npm + vite" | "local" | "docker": spread of create → app (ms)}},
    and the AI-stack app from a warm slot of its stack ("local, warm pool", "docker, warm
    pool")."""
    report: dict[str, dict[str, dict[str, float]]] = {}
    for name, (files, app) in PROJECTS.items():
        report[name] = {
            "plain npm + vite": spread(plain_rounds(browser, files, app, rounds)),
            "local": spread(kontext_rounds(browser, "local", files, rounds)),
            "docker": spread(kontext_rounds(browser, "docker", files, rounds)),
        }
    files = PROJECTS["AI-stack app"][0]
    report["AI-stack app, warm pool of its stack"] = {
        backend: spread(kontext_rounds(browser, backend, files, rounds, STACK))
        for backend in ("local", "docker")
    }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with chromium() as browser:
        report = run(browser, args.rounds)
        about = versions(browser)
    print(", ".join(f"{k} {v}" for k, v in about.items()))
    print(f"create → app on screen, p50/p95 ms over {args.rounds} rounds\n")
    print(f"{'project':<38}{'plain npm + vite':>18}{'local':>14}{'docker':>14}")
    for name, row in report.items():
        cells = [
            f"{row[k]['p50']:.0f}/{row[k]['p95']:.0f}" if k in row else "-"
            for k in ("plain npm + vite", "local", "docker")
        ]
        widths = (18, 14, 14)
        print(f"{name:<38}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))
    print(write_json("stacks.json", {"versions": about, "rounds": args.rounds, "rows": report}))


if __name__ == "__main__":
    main()
