"""How many sessions one machine holds (issue 19, point 4): memory per idle live session
on each backend, what a sleeping session keeps, update latency as live idle sessions pile
up, N sessions updated at once, and the sizing these figures give.

    python -m benchmarks.capacity [--ramp 0,100,300] [--concurrent 20] [--updates 10]

- memory: ``--sessions`` idle sessions per backend (default 10), each page loaded once
  through the proxy, then idle past the agent's idle collection; per session the sum over
  its processes (the Node agent running Vite; a container's processes for Docker) of
  VmRSS, RssAnon and Pss from /proc (proc(5)). RSS counts the pages every dev server maps
  from the same files (node's binary, rolldown's) in full in each process; Pss counts
  them by share, so Pss is what one more session costs once many run.
- sleeping: sessions whose page was opened in Chromium hibernate (their dev server stops,
  a page snapshot is kept); their disk (session folder + snapshot, MB) and the API
  process's RSS per session.
- ramp: one session with its page open in headless Chromium gets 20 component edits
  while 0, 100, 300… other live, idle sessions run on the same embedded server (local
  backend, hibernation off so they stay live); at each step p50/p95 of the
  browser-acknowledged latency (`browserAppliedMs` of `update.applied`: receipt by the
  API → the page applied it), the summed Pss of all dev servers, the API's RSS and the
  1-minute load average.
- concurrent: N sessions, each with its page open, each sent `--updates` component edits
  by its own thread at once (one every 250 ms); p50/p95 of `browserAppliedMs`.
- sizing: live sessions a node of ``--node-gib`` (24) holds with the measured Pss per
  session at the ramp's last step, after RESERVE_GIB for the API, the OS and bursts;
  sleeping sessions are bounded by disk (MB each, measured) and KONTEXT_MAX_SESSIONS.
All on loopback, bounded in count and time. Measurement only: nothing here fails on a
number.
"""

import argparse
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import chromium, on_screen, proc_status, spread, versions, write_json
from kontext_preview.config import Settings
from tests.distributed.cluster import read_events
from tests.project import project_files
from tests.sandboxes import containers_of
from tests.server import ApiServer, agent_pids

HEADER = "src/frontend/src/Header.tsx"
LIMITS = {"max_sessions": 1000, "max_sessions_per_user": 1000, "pool_size": 0}
UPDATE_GAP = 0.25  # s between one session's updates
IDLE_SECONDS = 12.0  # past the agent's idle collection (IDLE_GC_MS, 10 s)
RESERVE_GIB = 2.0  # the API, the OS and a burst of active dev servers, on top of idle ones
GIB = 2**30


def header(text: str) -> str:
    return f'export default function Header() {{\n  return <h1 id="title">{text}</h1>;\n}}\n'


def proc_memory(pids: list[int]) -> dict[str, float]:
    """VmRSS, RssAnon and Pss (MB) summed over ``pids`` (gone ones count 0)."""
    total = {"rss": 0.0, "anon": 0.0, "pss": 0.0}
    for pid in pids:
        try:
            status = proc_status(pid)
        except OSError:
            continue
        for name, key in (("rss", "VmRSS"), ("anon", "RssAnon"), ("pss", "Pss")):
            total[name] += status[key]
    return total


def session_pids(backend: str, sid: str) -> list[int]:
    if backend == "local":
        return agent_pids(sid)
    (container,) = containers_of(sid)
    return [int(row[1]) for row in container.top()["Processes"]]


def create(api: httpx.Client, server: ApiServer) -> str:
    """A started session of the test project, its page's HTML and entry fetched once."""
    body = api.post("/kontext/preview", params={"wait": "true"}, json={"files": project_files()})
    session = body.json()
    if session.get("status") != "active":
        raise RuntimeError(f"session did not start: {session}")
    sid: str = session["sessionId"]
    server.preview_get(sid, "/")
    server.preview_get(sid, "/src/main.tsx")
    return sid


def mean(rows: list[dict[str, float]], key: str) -> float:
    return sum(row[key] for row in rows) / len(rows)


def memory(backend: str, sessions: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="kp-bench-"))
    server = ApiServer.start(
        root, sandbox_backend=backend, max_running_sessions=sessions + 2, **LIMITS
    )
    try:
        with server.client() as api:
            ids = [create(api, server) for _ in range(sessions)]
            time.sleep(IDLE_SECONDS)
            per_session = [proc_memory(session_pids(backend, sid)) for sid in ids]
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return {
        "sessions": sessions,
        **{key: mean(per_session, key) for key in ("rss", "anon", "pss")},
        "rss_spread": spread([row["rss"] for row in per_session]),
    }


def disk_mb(path: Path) -> float:
    """Blocks allocated under ``path`` (du), MB; template dependencies are links, not copies."""
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=False)
    return int(out.stdout.split()[0]) / 1024 if out.returncode == 0 else 0.0


def sleeping(browser: Any, sessions: int = 5) -> dict[str, float]:
    """Sessions that hibernate after their page was opened: disk each (its files and page
    snapshot) and the API process's RSS (MB)."""
    root = Path(tempfile.mkdtemp(prefix="kp-bench-"))
    server = ApiServer.start(
        root, hibernate_after_seconds=3, reap_interval_seconds=0.5, max_running_sessions=20
    )
    try:
        with server.client() as api:
            ids = []
            for _ in range(sessions):
                session = api.post(
                    "/kontext/preview", params={"wait": "true"}, json={"files": project_files()}
                ).json()
                on_screen(browser, session["previewUrl"], time.perf_counter())
                ids.append(session["sessionId"])
            deadline = time.monotonic() + 120  # (a GET would count as activity: not asked)
            while any(agent_pids(sid) for sid in ids):
                if time.monotonic() > deadline:
                    raise RuntimeError("sessions did not hibernate in 120 s")
                time.sleep(0.5)
            time.sleep(2)  # the hibernation's last writes done
            states = {api.get(f"/kontext/preview/{sid}").json()["status"] for sid in ids}
            if states != {"hibernated"}:
                raise RuntimeError(f"sessions did not hibernate: {states}")
            settings = Settings(data_dir=root)
            disks = [
                disk_mb(settings.data_dir / "sessions" / sid) + disk_mb(settings.deploy_root / sid)
                for sid in ids
            ]
            snapshots = sum((settings.deploy_root / sid / "snapshot").is_dir() for sid in ids)
            api_rss = proc_memory([server.process.pid])["rss"]
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return {
        "sessions": sessions,
        "snapshots": snapshots,
        "disk_mb": sum(disks) / len(disks),
        "api_rss_mb": api_rss,
    }


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
    server = ApiServer.start(
        root,
        browser_ack_timeout_seconds=30,
        max_running_sessions=max(steps) + 2,
        hibernate_after_seconds=24 * 3600,
        **LIMITS,
    )
    out: list[dict[str, Any]] = []
    try:
        with server.client() as api:
            sid = create(api, server)
            page = browser.new_page()
            page.goto(f"http://preview-{sid}.localhost:{server.port}/")
            page.wait_for_selector("#title")
            others: list[str] = []
            for step in steps:
                began = time.monotonic()
                while len(others) < step:
                    others.append(create(api, server))
                created_s = time.monotonic() - began
                time.sleep(IDLE_SECONDS)
                values = applied_ms(server, sid, send_updates(api, sid, 20, []))
                dev_servers = proc_memory([p for o in others for p in agent_pids(o)])
                out.append(
                    {
                        "idle_sessions": step,
                        **spread(values),
                        "created_s": created_s,
                        "idle_pss_mb": dev_servers["pss"],
                        "idle_rss_mb": dev_servers["rss"],
                        "api_rss_mb": proc_memory([server.process.pid])["rss"],
                        "load1": os.getloadavg()[0],
                    }
                )
            page.close()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return out


def concurrent(browser: Any, sessions: int, updates: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="kp-bench-"))
    server = ApiServer.start(
        root, browser_ack_timeout_seconds=60, max_running_sessions=sessions + 2, **LIMITS
    )
    try:
        with server.client() as api:
            ids = [create(api, server) for _ in range(sessions)]
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


def sizing(report: dict[str, Any], node_gib: float) -> dict[str, Any]:
    """Live sessions per node from the ramp's last step (Pss per idle dev server, the
    API's RSS there), per backend scaled by its own Pss at 10 sessions; sleeping sessions
    by disk."""
    last = report["ramp"][-1]
    per_session = last["idle_pss_mb"] / max(1, last["idle_sessions"])
    usable_mb = (node_gib - RESERVE_GIB) * 1024 - last["api_rss_mb"]
    live = {"local": int(usable_mb // per_session)}
    local_pss = report["memory"]["local"]["pss"]
    for backend, row in report["memory"].items():
        if backend != "local":  # its Pss at scale: the local one's, scaled by the 10-run ratio
            live[backend] = int(usable_mb // (per_session * row["pss"] / local_pss))
    disk = report["sleeping"]["disk_mb"]
    return {
        "node_gib": node_gib,
        "reserve_gib": RESERVE_GIB,
        "pss_per_live_session_mb": per_session,
        "live": live,
        "sleeping_disk_mb_each": disk,
        "sleeping_per_100_gb_disk": int(100 * 1024 // disk) if disk else None,
    }


def run(
    browser: Any, steps: list[int], sessions: int, updates: int, per_backend: int = 10
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "memory": {backend: memory(backend, per_backend) for backend in ("local", "docker")},
        "sleeping": sleeping(browser),
        "ramp": ramp(browser, steps),
        "concurrent": concurrent(browser, sessions, updates),
    }
    return {**report, "sizing": sizing(report, 24.0)}


def lines(report: dict[str, Any]) -> list[str]:
    out = []
    for backend, row in report["memory"].items():
        out.append(
            f"idle live session, {backend} ({row['sessions']} running): RSS {row['rss']:.0f} MB"
            f" (anon {row['anon']:.0f}), PSS {row['pss']:.0f} MB"
        )
    s = report["sleeping"]
    out.append(
        f"sleeping session: {s['disk_mb']:.1f} MB of disk ({s['snapshots']}/{s['sessions']}"
        f" with a page snapshot), no process; API RSS {s['api_rss_mb']:.0f} MB"
    )
    base = report["ramp"][0]
    for row in report["ramp"]:
        out.append(
            f"{row['idle_sessions']:>4} live idle sessions: update → page p50 {row['p50']:.1f} ms,"
            f" p95 {row['p95']:.1f} ms ({row['p95'] / base['p95']:.2f}x); dev servers' PSS"
            f" {row['idle_pss_mb'] / 1024:.2f} GiB, API RSS {row['api_rss_mb']:.0f} MB,"
            f" load {row['load1']:.2f}"
        )
    c = report["concurrent"]
    out.append(
        f"{c['sessions']} sessions updated at once ({c['updates']} updates, "
        f"{c['updates_per_second']:.0f}/s, {c['errors']} errors): update → page p50 "
        f"{c['p50']:.1f} ms, p95 {c['p95']:.1f} ms"
    )
    z = report["sizing"]
    out.append(
        f"a {z['node_gib']:.0f} GiB node ({z['reserve_gib']:.0f} GiB kept back): live idle"
        f" sessions {', '.join(f'{k} {v}' for k, v in z['live'].items())}"
        f" ({z['pss_per_live_session_mb']:.0f} MB PSS each); sleeping sessions"
        f" {z['sleeping_per_100_gb_disk']} per 100 GB of disk"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ramp", default="0,100,300")
    parser.add_argument("--sessions", type=int, default=10, help="idle sessions per backend")
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--updates", type=int, default=10)
    args = parser.parse_args()
    steps = [int(s) for s in args.ramp.split(",")]
    with chromium() as browser:
        report = run(browser, steps, args.concurrent, args.updates, args.sessions)
        about = versions(browser)
    print(", ".join(f"{k} {v}" for k, v in about.items()) + "\n")
    print("\n".join(lines(report)))
    print(write_json("capacity.json", {"versions": about, **report}))


if __name__ == "__main__":
    main()
