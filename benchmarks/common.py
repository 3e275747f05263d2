"""What every benchmark shares: versions of what was measured, percentiles, the browser."""

import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kontext_preview.config import REPO_ROOT, Settings
from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.project import FIXTURES

RESULTS = REPO_ROOT / "benchmarks" / "results"


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (inclusive method), or the one value there is."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def spread(values: list[float]) -> dict[str, float]:
    return {
        "p50": pct(values, 50),
        "p95": pct(values, 95),
        "p99": pct(values, 99),
        "n": len(values),
    }


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def plain_vite_app(project: str = "react-app", app: str = "src/frontend") -> Iterator[Path]:
    """A copy of a test project for plain Vite, the template's node_modules linked into its
    app folder; yields the app folder (the copy is removed after)."""
    root = Path(tempfile.mkdtemp(prefix="vite-bench-"))
    try:
        shutil.copytree(FIXTURES / project, root, dirs_exist_ok=True)
        (root / app / "node_modules").symlink_to(Settings().template_dir / "node_modules")
        yield root / app
    finally:
        shutil.rmtree(root, ignore_errors=True)


def vite_command(*args: str) -> list[str]:
    """Plain `vite` with ``args``, from the template's node_modules."""
    return ["node", str(Settings().template_dir / "node_modules/vite/bin/vite.js"), *args]


@contextmanager
def plain_vite_server(app_dir: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Plain `vite` serving ``app_dir`` on 127.0.0.1:``port``, stopped after."""
    vite = subprocess.Popen(
        vite_command("--port", str(port), "--strictPort", "--host", "127.0.0.1"),
        cwd=app_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield vite
    finally:
        vite.terminate()
        vite.wait()


def on_screen(
    browser: Any, url: str, began: float, page: Any = None, selector: str = "#title"
) -> float:
    """Open ``url`` (retried while nothing listens yet) until ``selector`` shows; ms since
    ``began`` (a perf_counter reading). ``page``: one opened before the clock started
    (default: a new one, opened on the clock); closed after."""
    page = page or browser.new_page()
    try:
        while True:
            try:
                page.goto(url)
                break
            except Exception:
                time.sleep(0.02)
        page.wait_for_selector(selector, timeout=120_000)
        return (time.perf_counter() - began) * 1000
    finally:
        page.close()


def versions(browser: Any) -> dict[str, str]:
    vite = json.loads((Settings().template_dir / "node_modules/vite/package.json").read_text())
    docker = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True
    ).stdout.strip()
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "vite": vite["version"],
        "node": node,
        "chromium": browser.version,
        "docker engine": docker or "none",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {memory:.0f} GiB, "
        f"Linux {platform.release()}",
    }


def write_json(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS, RssAnon, RssFile of ``pid`` and its Pss (proportional: pages shared with
    other processes, such as the mapped native binaries every dev server loads, counted
    by share; smaps_rollup, proc(5)) in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) / 1024
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "Pss":
            fields["Pss"] = int(value.split()[0]) / 1024
    return fields


def tree_status(pid: int) -> dict[str, float]:
    """:func:`proc_status` summed over ``pid`` and its descendants (a dev server that runs
    its server in a child process: `next dev`), in MB."""
    total: dict[str, float] = {}
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            for key, value in proc_status(current).items():
                total[key] = total.get(key, 0.0) + value
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:  # ended meanwhile
            continue
        pending += [int(child) for child in children]
    return total
