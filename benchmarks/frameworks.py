"""Per framework (issue 33): update → DOM beside the framework's own dev server on the same
project, create → first paint, and the idle memory of a session's dev server.

    python -m benchmarks.frameworks [--edits 20] [--only astro,sveltekit]

Projects: tests/fixtures/<framework>-app, as each framework's CLI or docs write them.
The framework's own dev server (`next dev`, `astro dev`, `vite dev` for SvelteKit,
`react-router dev`) runs on a copy installed with `npm install --ignore-scripts`, its own
file watcher on (its memory is its process tree's: `next dev` runs its server in a
child); kontext-preview runs a session of the same files behind the API and proxy. Both pages are
open side by side and take the same component edits interleaved (benchmarks.update_latency
explains the timing: edit → a MutationObserver in headless Chromium seeing it).
Create → first paint: POST /kontext/preview, then the page shows #title; "first" is the
first session of the project on this machine's run (npm installs what no prepared stack
has), "again" a second session of the same project (npm's cache warm). Idle memory: the
agent process's RSS and Pss (MB) after 15 s idle and the framework's own dev server's.
Measurement only: nothing here fails on a number.
"""

import argparse
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import chromium, proc_status, spread, tree_status, versions, write_json
from benchmarks.update_latency import OBSERVER, Applier, interleaved
from tests.project import FIXTURES, project_files
from tests.server import ApiServer, agent_pids, auth


@dataclass(frozen=True)
class Bench:
    name: str
    fixture: str
    component: str
    title: str  # #title's text in the component as written
    command: tuple[str, ...]  # its own dev server, from node_modules/.bin, port appended


BENCHES = [
    Bench(
        "nextjs",
        "next-app",
        "app/counter.tsx",
        "Hello from Next.js",
        ("next", "dev", "--hostname", "127.0.0.1", "--port"),
    ),
    Bench(
        "astro",
        "astro-app",
        "src/components/Counter.tsx",
        "Hello from Astro",
        ("astro", "dev", "--host", "127.0.0.1", "--port"),
    ),
    Bench(
        "sveltekit",
        "sveltekit-app",
        "src/routes/+page.svelte",
        "Welcome to SvelteKit",
        ("vite", "dev", "--host", "127.0.0.1", "--strictPort", "--port"),
    ),
    Bench(
        "react-router",
        "react-router-app",
        "app/welcome.tsx",
        "Welcome to React Router",
        ("react-router", "dev", "--host", "127.0.0.1", "--strictPort", "--port"),
    ),
]
# No request off the machine, as in a session: telemetry and update checks off; what Next's
# Turbopack fetches itself (Google Fonts) goes to a proxy on the loopback that refuses.
QUIET = {
    "ASTRO_TELEMETRY_DISABLED": "1",
    "ASTRO_DISABLE_UPDATE_CHECK": "true",
    "NEXT_TELEMETRY_DISABLED": "1",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
}


def plan(bench: Bench, n: int) -> list[tuple[str, str, str, str]]:
    source = (FIXTURES / bench.fixture / bench.component).read_text()
    return [
        (bench.component, source.replace(bench.title, f"Edit {i}"), "text", f"Edit {i}")
        for i in range(n)
    ]


def open_page(browser: Any, url: str) -> Any:
    page = browser.new_page()
    for _ in range(600):
        try:
            page.goto(url)
            break
        except Exception:
            time.sleep(0.1)
    page.wait_for_selector("#title", timeout=120_000)
    page.wait_for_load_state("networkidle")
    page.evaluate(OBSERVER)
    return page


@contextmanager
def own_server(browser: Any, bench: Bench, port: int) -> Iterator[tuple[Any, Applier, int]]:
    """The framework's own dev server over an installed copy of the project."""
    root = Path(tempfile.mkdtemp(prefix=f"fw-bench-{bench.name}-"))
    shutil.copytree(FIXTURES / bench.fixture, root, dirs_exist_ok=True)
    subprocess.run(
        ["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=root,
        check=True,
        capture_output=True,
    )
    env = {
        "PATH": f"{root / 'node_modules/.bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(root),
        **QUIET,
    }
    server = subprocess.Popen(
        [*bench.command, str(port)],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        page = open_page(browser, f"http://127.0.0.1:{port}/")

        def apply(name: str, content: str) -> None:
            (root / name).write_text(content)

        yield page, apply, server.pid
        page.close()
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(root, ignore_errors=True)


def create(api: httpx.Client, browser: Any, bench: Bench) -> tuple[float, str, Any]:
    began = time.perf_counter()
    session = api.post(
        "/kontext/preview", params={"wait": "true"}, json={"files": project_files(bench.fixture)}
    ).json()
    page = open_page(browser, session["previewUrl"])
    return (time.perf_counter() - began) * 1000, session["sessionId"], page


def run(browser: Any, edits: int, only: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for bench in [b for b in BENCHES if not only or b.name in only]:
        root = Path(tempfile.mkdtemp(prefix="kp-fw-bench-"))
        server = ApiServer.start(root)
        try:
            with (
                server.client() as api,
                httpx.Client(base_url=server.base_url, trust_env=False, headers=auth()) as client,
            ):
                first_ms, first_sid, first_page = create(api, browser, bench)
                first_page.close()
                api.delete(f"/kontext/preview/{first_sid}")
                again_ms, sid, page = create(api, browser, bench)

                def apply(name: str, content: str, sid: str = sid) -> None:
                    client.post(
                        f"/kontext/preview/{sid}/update",
                        json={"files": [{"name": name, "content": content}]},
                    )

                with own_server(browser, bench, 41870) as (own_page, own_apply, own_pid):
                    timings = interleaved(
                        {"own": (own_page, own_apply), "kontext": (page, apply)}, plan(bench, edits)
                    )
                    time.sleep(15)
                    [agent] = agent_pids(sid)
                    memory = {"kontext": proc_status(agent), "own": tree_status(own_pid)}
                page.close()
                results[bench.name] = {
                    "update": {path: spread(t["text"]) for path, t in timings.items()},
                    "create_ms": {"first": first_ms, "again": again_ms},
                    "idle_memory_mb": memory,
                }
        finally:
            server.stop()
            shutil.rmtree(root, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--edits", type=int, default=20, help="component edits per framework")
    parser.add_argument("--only", default="", help="frameworks, comma-separated")
    args = parser.parse_args()
    with chromium() as browser:
        results = run(browser, args.edits, [n for n in args.only.split(",") if n])
        about = versions(browser)
    print(", ".join(f"{k} {v}" for k, v in about.items()))
    print(f"{args.edits} component edits per framework, interleaved with its own dev server\n")
    print("framework       ours p50/p95   own p50/p95  ratio  create 1st/again s  idle MB ours|own")
    for name, r in results.items():
        ours, own = r["update"]["kontext"], r["update"]["own"]
        mine, theirs = r["idle_memory_mb"]["kontext"], r["idle_memory_mb"]["own"]
        first, again = r["create_ms"]["first"] / 1000, r["create_ms"]["again"] / 1000
        print(
            f"{name:<14}{ours['p50']:>7.1f}/{ours['p95']:<7.1f}{own['p50']:>7.1f}/{own['p95']:<7.1f}"
            f"{ours['p50'] / own['p50']:>6.2f}{first:>10.1f}/{again:<9.1f}"
            f"RSS {mine['VmRSS']:.0f}|{theirs['VmRSS']:.0f} "
            f"Pss {mine['Pss']:.0f}|{theirs['Pss']:.0f}"
        )
    print(f"\nwritten to {write_json('frameworks.json', {'versions': about, **results})}")


if __name__ == "__main__":
    main()
