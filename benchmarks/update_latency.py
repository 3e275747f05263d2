"""Update → DOM changed, through kontext-preview (API + proxy) and through plain Vite, same run.

    python -m benchmarks.update_latency [--edits 50]

kontext-preview: POST /update, then the preview (loaded through the proxy) changes;
CSS edits take the css-injection path, and a third run turns injection off (CSS
through Vite's HMR, still behind the API and proxy) to show what injection saves.
A fourth run is distributed mode: the API in front of a Celery worker over Redis
(127.0.0.1:6379, db 13); the "api" rows are the POST /update round trips, whose
difference between the two modes is what distributed mode adds.
Plain Vite: the same project under `vite` with its own watcher, the same edit written
straight into the file. Both are timed from just before the edit to a
MutationObserver in headless Chromium seeing the result (wall clock on both sides).
Measurement only: nothing here fails on a number.
"""

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import chromium, spread, versions, write_json
from kontext_preview.config import Settings
from tests.distributed.cluster import Cluster
from tests.project import FIXTURES, project_files
from tests.server import ApiServer, auth

HEADER = "src/frontend/src/Header.tsx"
CSS = "src/frontend/src/index.css"
OBSERVER = """() => {
  window.__changes = [];
  new MutationObserver(() => {
    const title = document.querySelector('#title');
    if (!title) return;
    window.__changes.push({at: performance.timeOrigin + performance.now(),
                           text: title.textContent, color: getComputedStyle(title).color});
  }).observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
}"""
SEEN = """([kind, want]) =>
  window.__changes.find(c => (kind === 'text' ? c.text : c.color) === want)
  || (() => { const t = document.querySelector('#title'); const s = getComputedStyle(t);
      const v = kind === 'text' ? t.textContent : s.color;
      return v === want ? {at: performance.timeOrigin + performance.now()} : null; })()"""


def edits(n: int) -> list[tuple[str, str, str, str]]:
    """(file, content, kind, expected) for n component and n CSS edits, alternating."""
    out = []
    for i in range(n):
        text = f"Edit {i}"
        out.append(
            (
                HEADER,
                f'export default function Header() {{\n  return <h1 id="title">{text}</h1>;\n}}\n',
                "text",
                text,
            )
        )
        color = f"rgb({i % 256}, 0, 255)"
        out.append((CSS, f"#title {{\n  color: {color};\n}}\n", "color", color))
    return out


def measure(page: Any, apply: Any, plan: list[tuple[str, str, str, str]]) -> dict[str, list[float]]:
    page.evaluate(OBSERVER)
    results: dict[str, list[float]] = {"text": [], "color": [], "api": []}
    for name, content, kind, want in plan:
        page.evaluate("window.__changes = []")
        start = time.time() * 1000
        apply(name, content)
        if kind == "text":
            results["api"].append(time.time() * 1000 - start)
        handle = page.wait_for_function(SEEN, arg=[kind, want], timeout=15000, polling=1)
        results[kind].append(handle.json_value()["at"] - start)
        time.sleep(0.05)
    return results


def run_kontext(
    browser: Any, plan: list[tuple[str, str, str, str]], distributed: bool = False, **settings: Any
) -> dict[str, list[float]]:
    root = Path(tempfile.mkdtemp(prefix="kp-bench-"))
    cluster = Cluster.start(root, ("bench",), **settings) if distributed else None
    server = cluster.api if cluster else ApiServer.start(root, **settings)
    try:
        with server.client() as api:
            session = api.post(
                "/kontext/preview", params={"wait": "true"}, json={"files": project_files()}
            ).json()
            page = browser.new_page()
            page.goto(session["previewUrl"])
            page.wait_for_selector("#title")
            client = httpx.Client(base_url=server.base_url, trust_env=False, headers=auth())

            def apply(name: str, content: str) -> None:
                client.post(
                    f"/kontext/preview/{session['sessionId']}/update",
                    json={"files": [{"name": name, "content": content}]},
                )

            return measure(page, apply, plan)
    finally:
        if cluster:
            cluster.stop()
        else:
            server.stop()


def run_plain_vite(browser: Any, plan: list[tuple[str, str, str, str]]) -> dict[str, list[float]]:
    settings = Settings()
    root = Path(tempfile.mkdtemp(prefix="vite-bench-"))
    shutil.copytree(FIXTURES / "react-app", root, dirs_exist_ok=True)
    app = root / "src" / "frontend"
    (app / "node_modules").symlink_to(settings.template_dir / "node_modules")
    vite = subprocess.Popen(
        [
            "node",
            str(settings.template_dir / "node_modules/vite/bin/vite.js"),
            "--port",
            "41890",
            "--strictPort",
            "--host",
            "127.0.0.1",
        ],
        cwd=app,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        page = browser.new_page()
        for _ in range(100):
            try:
                page.goto("http://127.0.0.1:41890/")
                break
            except Exception:
                time.sleep(0.1)
        page.wait_for_selector("#title")

        def apply(name: str, content: str) -> None:
            (root / name).write_text(content)

        return measure(page, apply, plan)
    finally:
        vite.terminate()
        vite.wait()
        shutil.rmtree(root, ignore_errors=True)


def run(browser: Any, edits_of_each_kind: int) -> dict[str, dict[str, float]]:
    """p50/p95/p99 (ms) by "path/edit" (edit: component, css or api), plain Vite beside."""
    plan = edits(edits_of_each_kind)
    results = {
        "plain vite": run_plain_vite(browser, plan),
        "kontext-preview": run_kontext(browser, plan),
        # The same stack with css-injection turned off: CSS goes through Vite's HMR.
        "kontext (no inj.)": run_kontext(
            browser,
            [p for p in plan if p[2] == "color"],
            change_policy_overrides='{"stylesheet": "preview-update"}',
        ),
        "kontext distrib.": run_kontext(browser, plan, distributed=True),
    }
    summary = {}
    for path, kinds in results.items():
        for kind, values in kinds.items():
            if values:
                label = {"text": "component", "color": "css"}.get(kind, kind)
                summary[f"{path}/{label}"] = {**spread(values), "max": max(values)}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--edits", type=int, default=50, help="edits of each kind")
    args = parser.parse_args()
    with chromium() as browser:
        summary = run(browser, args.edits)
        about = versions(browser)
    print(", ".join(f"{k} {v}" for k, v in about.items()))
    print(f"{args.edits} edits of each kind\n")
    print(f"{'path':<18}{'edit':<11}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'max ms':>8}")
    for key, row in summary.items():
        path, label = key.split("/")
        print(
            f"{path:<18}{label:<11}{row['p50']:>8.1f}{row['p95']:>8.1f}{row['p99']:>8.1f}"
            f"{row['max']:>8.1f}"
        )
    for label in ("component", "css"):
        ratio = summary[f"kontext-preview/{label}"]["p50"] / summary[f"plain vite/{label}"]["p50"]
        print(f"ratio kontext/plain p50, {label}: {ratio:.2f}")
    added = summary["kontext distrib./api"]["p50"] - summary["kontext-preview/api"]["p50"]
    print(f"distributed mode adds {added:.1f} ms to the update round trip (p50)")
    print(write_json("update_latency.json", {"versions": about, "results": summary}))


if __name__ == "__main__":
    main()
