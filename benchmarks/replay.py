"""Public AI-built histories into a page opened once: kontext-preview beside plain Vite, same run.

    python -m benchmarks.replay [--all | --history NAME ...]

Each history of tests/replay/test_public_histories.py (by default ``SAMPLE_BENCH``) is played
twice, one commit a step, into a page opened once and never reloaded by the player
(tests/replay/player.py):

- through kontext-preview (an embedded server, local backend): one update per commit;
- through plain Vite: the first commit's files in a folder, ``npm install`` (npm's own
  defaults: the project's lockfile, peer conflicts refused), the project's own ``vite`` with
  its file watcher on 127.0.0.1, then each commit written into the folder as an editor
  would, ``npm install`` again when package.json or a lockfile changed (as the builders'
  sandboxes do), and ``vite`` started again if it stopped.

Per history and path: steps whose open page came to show what a fresh load shows, over all;
the time from sending a step (the POST, or the first file written) to the open page first
showing it, p50/p95 over the steps that changed what a page shows; and how the page took the
steps: kept (hot-updated, or nothing to show) or loaded again. Written to
benchmarks/results/replay.json. Measurement only: nothing here fails.
"""

import argparse
import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.common import spread, write_json
from tests.replay.history import History
from tests.replay.player import OpenPage, Step, fresh_load, loopback_browser, settled_step
from tests.replay.service import CATCH_UP_MS, replay
from tests.replay.test_public_histories import HISTORIES
from tests.server import ApiServer

# By default: a Lovable, a bolt.new and a Dyad history, and the people-made one.
SAMPLE_BENCH = ("your-concierge", "mystic-hues-journey", "TerritoryWars.io", "todo-react")
NPM_TIMEOUT_S = 600
VITE_START_S = 60
LOCKFILES = ("package.json", "package-lock.json")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def npm_install(folder: Path) -> str:
    """npm install as a developer runs it (scripts off: the machine runs no package's code
    outside the dev server either); '' or npm's last error lines."""
    result = subprocess.run(
        ["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT_S,
    )
    if result.returncode == 0:
        return ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("npm error")]
    return " | ".join(errors[:3]) or f"npm exited {result.returncode}"


class PlainVite:
    """The project's own `vite`, with its watcher, on a folder of the project's files."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def ensure_running(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        vite = self.folder / "node_modules" / "vite" / "bin" / "vite.js"
        self.process = subprocess.Popen(
            ["node", str(vite), "--port", str(self.port), "--strictPort", "--host", "127.0.0.1"],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + VITE_START_S
        while time.monotonic() < deadline and self.process.poll() is None:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@contextmanager
def plain_vite(files: dict[str, bytes]) -> Iterator[PlainVite]:
    folder = Path(tempfile.mkdtemp(prefix="replay-vite-"))
    write(folder, files, [])
    server = PlainVite(folder)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def write(folder: Path, files: dict[str, bytes], deleted: list[str]) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    for name in deleted:
        (folder / name).unlink(missing_ok=True)


def replay_plain(browser: Any, history: History) -> list[Step]:
    commits = history.commits()
    files = history.tree(commits[0])
    steps: list[Step] = []
    with plain_vite(files) as server:
        failed = npm_install(server.folder)
        server.ensure_running()
        page = OpenPage(browser, server.url)
        try:
            for offset, commit in enumerate(commits[1:], start=1):
                after = history.tree(commit)
                written = {n: c for n, c in after.items() if files.get(n) != c}
                deleted = sorted(n for n in files if n not in after)
                step = Step((history.first or 1) + offset, commit[:10], "", 0, False)
                step.subject = history.subject(commit)[:80]
                step.changed = len(written) + len(deleted)
                page.mark()
                sent_at = time.time()
                write(server.folder, written, deleted)
                if failed or any(n in written or n in deleted for n in LOCKFILES):
                    failed = npm_install(server.folder)
                    if failed:
                        step.notes.append(f"npm install failed: {failed[:200]}")
                server.ensure_running()
                settled_step(
                    page,
                    step,
                    lambda linger: fresh_load(browser, server.url, linger),
                    sent_at,
                    CATCH_UP_MS,
                )
                steps.append(step)
                files = after
        finally:
            page.close()
    return steps


def summary(steps: list[Step]) -> dict[str, Any]:
    played = [s for s in steps if not s.refused]
    shown = [s.shown_ms for s in played if s.equal and s.shown_ms is not None]
    return {
        "equal": sum(s.equal for s in steps),
        "steps": len(steps),
        "shown_ms": spread(shown) if shown else None,
        "kept": sum(not s.reloaded for s in played),
        "reloaded": sum(s.reloaded for s in played),
        "acks": {a: sum(s.ack == a for s in played) for a in sorted({s.ack for s in played})},
        "unequal": [f"#{s.number} {s.subject}: {s.live} / {s.fresh}" for s in steps if not s.equal],
    }


def run(names: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with loopback_browser() as browser:
        server = ApiServer.start(Path(tempfile.mkdtemp(prefix="replay-bench-")))
        try:
            for name in names:
                history = HISTORIES[name]
                ours = replay(server, browser, history)
                plain = replay_plain(browser, history)
                results[name] = {
                    "repo": history.repo,
                    "builder": history.builder,
                    "kontext-preview": summary(ours),
                    "plain vite": summary(plain),
                }
                print(table_rows(name, results[name]), flush=True)
        finally:
            server.stop()
    return results


def table_rows(name: str, result: dict[str, Any]) -> str:
    lines = []
    for path in ("kontext-preview", "plain vite"):
        r = result[path]
        shown = r["shown_ms"]
        timing = f"{shown['p50']:.0f} / {shown['p95']:.0f}" if shown else "-"
        lines.append(
            f"{name:28} {path:16} {r['equal']:>3}/{r['steps']:<3} {timing:>13} "
            f"{r['kept']:>4} kept {r['reloaded']:>3} reloaded  {json.dumps(r['acks'])}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--all", action="store_true", help="every history of the replay tests")
    parser.add_argument("--history", action="append", choices=sorted(HISTORIES), default=[])
    args = parser.parse_args()
    names = sorted(HISTORIES) if args.all else args.history or list(SAMPLE_BENCH)
    print(f"{'history':28} {'path':16} equal  shown p50/p95 ms  page took the steps  acks")
    results = run(names)
    path = write_json("replay.json", results)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
