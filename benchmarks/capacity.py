"""How many sessions one machine holds: memory per idle session, update latency as live
sessions pile up, and 20 sessions updated at once.

    python -m benchmarks.capacity [--ramp 0,10,20,40,60] [--concurrent 20] [--updates 10]

- memory: the resident memory (RSS) of each idle session's dev server (the Node agent
  running Vite; in a container for the Docker backend), over 10 sessions per backend.
- ramp: one session with its page open in headless Chromium gets 20 component edits
  while 0, 10, 20… other live, idle sessions run on the same embedded server; the p95 of
  the browser-acknowledged latency (`browserAppliedMs` of `update.applied`: receipt by
  the API → the page applied it) at each step, until it doubles or the ramp ends.
- concurrent: N sessions, each with its page open, each sent `--updates` component edits
  by its own thread at once (one every 250 ms); p50/p95 of `browserAppliedMs`.
All on loopback, bounded in count and time. Measurement only.
"""

import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import chromium, spread, versions, write_json
from tests.distributed.cluster import read_events
from tests.project import project_files
from tests.sandboxes import containers_of
from tests.server import ApiServer, agent_pids

HEADER = "src/frontend/src/Header.tsx"
LIMITS = {"max_running_sessions": 200, "max_sessions_per_user": 500, "pool_size": 0}
UPDATE_GAP = 0.25  # s between one session's updates


def header(text: str) -> str:
    return f'export default function Header() {{\n  return <h1 id="title">{text}</h1>;\n}}\n'


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
        )
    return total / 1024


def session_pids(backend: str, sid: str) -> list[int]:
    if backend == "local":
        return agent_pids(sid)
    (container,) = containers_of(sid)
    return [int(row[1]) for row in container.top()["Processes"]]


def create(api: httpx.Client) -> str:
    body = api.post("/kontext/preview", params={"wait": "true"}, json={"files": project_files()})
    session = body.json()
    if session.get("status") != "active":
        raise RuntimeError(f"session did not start: {session}")
    sid: str = session["sessionId"]
    return sid


def memory(backend: str, sessions: int = 10) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="kp-bench-"))
    server = ApiServer.start(root, sandbox_backend=backend, **LIMITS)
    try:
        with server.client() as api:
            ids = [create(api) for _ in range(sessions)]
            time.sleep(3)  # the start's warmup done: idle
            per_session = [rss_mb(session_pids(backend, sid)) for sid in ids]
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return {"sessions": sessions, **spread(per_session), "mean": sum(per_session) / sessions}


def applied_ms(server: ApiServer, sid: str, update_ids: list[str]) -> list[float]:
    """browserAppliedMs of these updates, from the session's event stream (replayed)."""
    wanted, seen = set(update_ids), {}

    def done(event: Any) -> bool:
        data = event.data
        if event.type == "update.applied" and data.get("updateId") in wanted:
            seen[data["updateId"]] = data.get("browserAppliedMs")
        return len(seen) == len(wanted)

    read_events(server.base_url, sid, until=done, timeout=120)
    return [float(v) for v in seen.values() if v is not None]


def send_updates(client: httpx.Client, sid: str, count: int, errors: list[str]) -> list[str]:
    ids = []
    for i in range(count):
        content = header(f"{sid[:6]} {time.time():.3f} {i}")
        answer = client.post(
            f"/kontext/preview/{sid}/update", json={"files": [{"name": HEADER, "content": content}]}
        )
        if answer.status_code == 200:
            ids.append(answer.json()["updateId"])
        else:
            errors.append(answer.text[:200])
        time.sleep(UPDATE_GAP)
    return ids


def ramp(browser: Any, steps: list[int]) -> list[dict[str, Any]]:
    root = Path(tempfile.mkdtemp(prefix="kp-bench-"))
    server = ApiServer.start(root, browser_ack_timeout_seconds=30, **LIMITS)
    out: list[dict[str, Any]] = []
    try:
        with server.client() as api:
            sid = create(api)
            page = browser.new_page()
            page.goto(f"http://preview-{sid}.localhost:{server.port}/")
            page.wait_for_selector("#title")
            others = 0
            for step in steps:
                while others < step:
                    create(api)
                    others += 1
                time.sleep(2)
                values = applied_ms(server, sid, send_updates(api, sid, 20, []))
                out.append({"idle_sessions": step, **spread(values)})
                if len(out) > 1 and out[-1]["p95"] >= 2 * out[0]["p95"]:
                    break
            page.close()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return out


def concurrent(browser: Any, sessions: int, updates: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="kp-bench-"))
    server = ApiServer.start(root, browser_ack_timeout_seconds=60, **LIMITS)
    try:
        with server.client() as api:
            ids = [create(api) for _ in range(sessions)]
            pages = []
            for sid in ids:
                page = browser.new_page()
                page.goto(f"http://preview-{sid}.localhost:{server.port}/")
                page.wait_for_selector("#title")
                pages.append(page)
            errors: list[str] = []
            sent: dict[str, list[str]] = {}

            def send(sid: str) -> None:
                with server.client() as client:
                    sent[sid] = send_updates(client, sid, updates, errors)

            threads = [threading.Thread(target=send, args=(sid,)) for sid in ids]
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(300)
            seconds = time.perf_counter() - began
            values = [v for sid in ids for v in applied_ms(server, sid, sent.get(sid, []))]
            for page in pages:
                page.close()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return {
        "sessions": sessions,
        "updates": sessions * updates,
        "errors": len(errors),
        "updates_per_second": sessions * updates / seconds,
        **spread(values),
    }


def run(browser: Any, steps: list[int], sessions: int, updates: int) -> dict[str, Any]:
    return {
        "memory": {backend: memory(backend) for backend in ("local", "docker")},
        "ramp": ramp(browser, steps),
        "concurrent": concurrent(browser, sessions, updates),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ramp", default="0,10,20,40,60")
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--updates", type=int, default=10)
    args = parser.parse_args()
    steps = [int(s) for s in args.ramp.split(",")]
    with chromium() as browser:
        report = run(browser, steps, args.concurrent, args.updates)
        about = versions(browser)
    print(", ".join(f"{k} {v}" for k, v in about.items()) + "\n")
    for backend, row in report["memory"].items():
        print(
            f"RSS per idle session, {backend}: mean {row['mean']:.0f} MB, p95 {row['p95']:.0f} MB"
        )
    for row in report["ramp"]:
        print(
            f"{row['idle_sessions']:>3} idle sessions: update → page p50 {row['p50']:.1f} ms, "
            f"p95 {row['p95']:.1f} ms"
        )
    c = report["concurrent"]
    print(
        f"{c['sessions']} sessions updated at once ({c['updates']} updates, "
        f"{c['updates_per_second']:.0f}/s, {c['errors']} errors): update → page p50 "
        f"{c['p50']:.1f} ms, p95 {c['p95']:.1f} ms"
    )
    print(write_json("capacity.json", {"versions": about, **report}))


if __name__ == "__main__":
    main()
