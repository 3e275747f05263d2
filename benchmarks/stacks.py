"""Projects as users send them: create → app on screen, beside plain `npm install && vite`.

    python -m benchmarks.stacks [--rounds 5] [--project NAME ...]

These projects, each on both sandbox backends and with plain npm + Vite, same run:

- template app: the test project (tests/fixtures/react-app), which the Vite template
  satisfies;
- AI-stack app: a shadcn/ui app as AI app builders make it (tests/fixtures/ai-stack-app:
  68 dependencies, React 18, Vite 5, Tailwind 3, Radix, a router), which the stack
  template `react18-vite5-tailwind3` satisfies;
- AI-stack + 1 package: the same with `is-odd@3.0.1` added, which no template has;
- create-vite's react (Vite 6 and 4), vue (Vite 5) and react-ts (Vite 7) templates as
  `npm create vite` writes them, which no prepared template has (issue 30's Docker/local
  comparison);
- the lockfile app (tests/fixtures/lockfiles) with a yarn.lock, a pnpm-lock.yaml and a
  bun.lock: installed by Yarn, pnpm and bun (no plain row: plain npm reads none of them);
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
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import chromium, on_screen, spread, versions, write_json
from tests.compat.test_vite_majors import as_body, template_files
from tests.project import project_files
from tests.sandbox.test_lockfiles import lockfile_project
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


def create_vite(major: str, template: str) -> Files:
    """A create-vite template as `npm create vite@<major>` writes it (npm pack: the
    registry's own tarball)."""
    with tempfile.TemporaryDirectory(prefix="create-vite-") as folder:
        done = subprocess.run(
            ["npm", "pack", f"create-vite@{major}", "--silent", "--pack-destination", folder],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        with tarfile.open(Path(folder) / done.stdout.strip().splitlines()[-1]) as archive:
            archive.extractall(Path(folder) / "x", filter="data")
        return as_body(template_files(Path(folder) / "x" / "package", template))


# name: (files, the app's folder, what shows the app is on screen)
PROJECTS: dict[str, tuple[Callable[[], Files], str, str]] = {
    "template app": (lambda: project_files("react-app"), "src/frontend", "#title"),
    "AI-stack app": (lambda: project_files("ai-stack-app"), ".", "#title"),
    "AI-stack + 1 package": (
        lambda: with_extra(project_files("ai-stack-app"), "package.json"),
        ".",
        "#title",
    ),
    # The issue-30 measurements' projects: create-vite templates no prepared template has.
    "create-vite react (Vite 6)": (lambda: create_vite("6", "react"), ".", "h1"),
    "create-vite react (Vite 4)": (lambda: create_vite("4", "react"), ".", "h1"),
    "create-vite vue (Vite 5)": (lambda: create_vite("5", "vue"), ".", "h1"),
    "create-vite react-ts (Vite 7)": (lambda: create_vite("7", "react-ts"), ".", "h1"),
    # A lockfile of each manager (tests/fixtures/lockfiles).
    **{
        f"lockfile app, {lockfile}": (
            lambda lockfile=lockfile: lockfile_project(lockfile),
            ".",
            "#app:has-text('odd')",
        )
        for lockfile in ("yarn.lock", "pnpm-lock.yaml", "bun.lock")
    },
}


def kontext_rounds(
    browser: Any,
    backend: str,
    files: Files,
    rounds: int,
    pool: str | None = None,
    shown: str = "#title",
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
                took = on_screen(browser, session["previewUrl"], began, selector=shown)
                if index:
                    out.append(took)
                api.delete(f"/kontext/preview/{session['sessionId']}")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return out


def plain_rounds(
    browser: Any, files: Files, app: str, rounds: int, shown: str = "#title"
) -> list[float]:
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
                out.append(on_screen(browser, f"http://localhost:{PORT}/", began, selector=shown))
            finally:
                vite.terminate()
                vite.wait()
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return out


def run(
    browser: Any, rounds: int, only: list[str] | None = None
) -> dict[str, dict[str, dict[str, float]]]:
    """{project: {"plain npm + vite" | "local" | "docker": spread of create → app (ms)}},
    and the AI-stack app from a warm slot of its stack ("local, warm pool", "docker, warm
    pool"); ``only``: these projects alone."""
    report: dict[str, dict[str, dict[str, float]]] = {}
    for name, (make, app, shown) in PROJECTS.items():
        if only and name not in only:
            continue
        files = make()
        plain = (
            [] if name.startswith("lockfile") else plain_rounds(browser, files, app, rounds, shown)
        )
        report[name] = {
            **({"plain npm + vite": spread(plain)} if plain else {}),
            "local": spread(kontext_rounds(browser, "local", files, rounds, shown=shown)),
            "docker": spread(kontext_rounds(browser, "docker", files, rounds, shown=shown)),
        }
    if not only:
        files = PROJECTS["AI-stack app"][0]()
        report["AI-stack app, warm pool of its stack"] = {
            backend: spread(kontext_rounds(browser, backend, files, rounds, STACK))
            for backend in ("local", "docker")
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--project", action="append", choices=list(PROJECTS), default=[])
    args = parser.parse_args()
    with chromium() as browser:
        report = run(browser, args.rounds, args.project)
        about = versions(browser)
    print(", ".join(f"{k} {v}" for k, v in about.items()))
    print(f"create → app on screen, p50/p95 ms over {args.rounds} rounds\n")
    print(f"{'project':<38}{'plain npm + vite':>18}{'local':>14}{'docker':>14}{'docker/local':>14}")
    for name, row in report.items():
        cells = [
            f"{row[k]['p50']:.0f}/{row[k]['p95']:.0f}" if k in row else "-"
            for k in ("plain npm + vite", "local", "docker")
        ]
        ratio = f"{row['docker']['p50'] / row['local']['p50']:.2f}x" if "local" in row else "-"
        widths = (18, 14, 14, 14)
        cells.append(ratio)
        print(f"{name:<38}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))
    print(write_json("stacks.json", {"versions": about, "rounds": args.rounds, "rows": report}))


if __name__ == "__main__":
    main()
