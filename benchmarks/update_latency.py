"""Update → DOM changed, through kontext-preview (API + proxy) and through plain Vite, same run.

    python -m benchmarks.update_latency [--edits 50]

kontext-preview: POST /update, then the preview (loaded through the proxy) changes;
CSS edits take the css-injection path, and a third path turns injection off (CSS
through Vite's HMR, still behind the API and proxy) to show what injection saves.
A fourth path is distributed mode: the API in front of a Celery worker over Redis
(127.0.0.1:6379, db 13); the "api" rows are the POST /update round trips, whose
difference between the two modes is what distributed mode adds.
Plain Vite: the same project under `vite` with its own watcher, the same edit written
straight into the file. Both are timed from just before the edit to a
MutationObserver in headless Chromium seeing the result (wall clock on both sides).
Paths compared are open side by side and take the same edits interleaved, so the
machine's drift over a run does not favour whichever went first.
Measurement only: nothing here fails on a number.
"""

import argparse
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import (
    chromium,
    plain_vite_app,
    plain_vite_server,
    spread,
    versions,
    write_json,
)
from tests.distributed.cluster import Cluster
from tests.project import project_files
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


Applier = Callable[[str, str], None]


def measure_one(page: Any, apply: Applier, edit: tuple[str, str, str, str]) -> tuple[float, float]:
    """(ms to the DOM change, ms the apply call took) for one edit."""
    name, content, kind, want = edit
    page.evaluate("window.__changes = []")
    start = time.time() * 1000
    apply(name, content)
    called = time.time() * 1000 - start
    handle = page.wait_for_function(SEEN, arg=[kind, want], timeout=15000, polling=1)
    return handle.json_value()["at"] - start, called


@contextmanager
def kontext(
    browser: Any, distributed: bool = False, **settings: Any
) -> Iterator[tuple[Any, Applier]]:
    """A session of the project behind the API, its preview open through the proxy."""
    root = Path(tempfile.mkdtemp(prefix="kp-bench-"))
    cluster = Cluster.start(root, ("bench",), **settings) if distributed else None
    server = cluster.api if cluster else ApiServer.start(root, **settings)
    try:
        with (
            server.client() as api,
            httpx.Client(base_url=server.base_url, trust_env=False, headers=auth()) as client,
        ):
            session = api.post(
                "/kontext/preview", params={"wait": "true"}, json={"files": project_files()}
            ).json()
            page = browser.new_page()
            page.goto(session["previewUrl"])
            page.wait_for_selector("#title")
            page.evaluate(OBSERVER)

            def apply(name: str, content: str) -> None:
                client.post(
                    f"/kontext/preview/{session['sessionId']}/update",
                    json={"files": [{"name": name, "content": content}]},
                )

            yield page, apply
            page.close()
    finally:
        if cluster:
            cluster.stop()
        else:
            server.stop()


@contextmanager
def plain_vite(browser: Any, port: int = 41890) -> Iterator[tuple[Any, Applier]]:
    """The same project under `vite` with its own watcher; edits written into its files."""
    with plain_vite_app() as app, plain_vite_server(app, port):
        page = browser.new_page()
        for _ in range(100):
            try:
                page.goto(f"http://127.0.0.1:{port}/")
                break
            except Exception:
                time.sleep(0.1)
        page.wait_for_selector("#title")
        page.evaluate(OBSERVER)
        root = app.parents[1]  # edits name files from the project's top

        def apply(name: str, content: str) -> None:
            (root / name).write_text(content)

        yield page, apply
        page.close()


def interleaved(
    paths: dict[str, tuple[Any, Applier]], plan: list[tuple[str, str, str, str]]
) -> dict[str, dict[str, list[float]]]:
    """Each edit goes to every path in turn (the order rotating), so that they share the
    machine's state as it drifts over a run (a browser that slows as it ages, the other
    core busy): a comparison of paths measured one after the other would carry it."""
    results = {name: {"text": [], "color": [], "api": []} for name in paths}
    names = list(paths)
    for i, edit in enumerate(plan):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            page, apply = paths[name]
            seen, called = measure_one(page, apply, edit)
            results[name][edit[2]].append(seen)
            if edit[2] == "text":
                results[name]["api"].append(called)
            time.sleep(0.05)
    return results


def run(browser: Any, edits_of_each_kind: int) -> dict[str, dict[str, float]]:
    """p50/p95/p99 (ms) by "path/edit" (edit: component, css or api), plain Vite beside;
    every path takes the same edits, interleaved."""
    plan = edits(edits_of_each_kind)
    with (
        plain_vite(browser) as vite,
        kontext(browser) as ours,
        # The same stack with css-injection turned off: CSS goes through Vite's HMR.
        kontext(browser, change_policy_overrides='{"stylesheet": "preview-update"}') as off,
        kontext(browser, distributed=True) as distributed,
    ):
        paths = {
            "plain vite": vite,
            "kontext-preview": ours,
            "kontext (no inj.)": off,
            "kontext distrib.": distributed,
        }
        results = interleaved(paths, plan)
    results["kontext (no inj.)"] = {"color": results["kontext (no inj.)"]["color"]}
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
