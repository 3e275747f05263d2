"""Where an idle dev server's memory goes, with Vite's defaults and with DEV_SERVER_ENV,
beside plain Vite, same run (issue 19, point 1).

    python -m benchmarks.memory [--edits 20]

For each: one session of the template app (local backend), its page open in Chromium,
``--edits`` component edits (edit → new text in the page, p50/p95 ms), then 5 s idle;
then the agent's own report (its ``memory`` control action: RSS, V8 heap, external
memory, threads, the module graph's transform results) and the process's RssAnon and
RssFile from /proc. Plain Vite: the same app served by the `vite` CLI, its page opened,
idle 5 s, its RSS. Measurement only: nothing here fails on a number.
"""

import argparse
import json
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import chromium, plain_vite_app, plain_vite_server, proc_status, write_json
from kontext_preview.config import DEV_SERVER_ENV
from tests.project import project_files
from tests.server import ApiServer, agent_pids

HEADER = "src/frontend/src/Header.tsx"
IDLE_SECONDS = 12.0  # past the agent's idle collection (IDLE_GC_MS, 10 s)
MB = 2**20


def header(text: str) -> str:
    return f'export default function Header() {{\n  return <h1 id="title">{text}</h1>;\n}}\n'


def agent_memory(pid: int) -> dict[str, Any]:
    """The agent's ``memory`` report, asked over its control socket (its config, with the
    socket and the token, is its command line's JSON argument)."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    config = json.loads(next(a for a in argv if a.startswith(b"{")))
    cwd = os.readlink(f"/proc/{pid}/cwd")
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(os.path.join(cwd, config["controlSocket"]))
        conn.sendall(
            json.dumps({"token": config["token"]}).encode()
            + b"\n"
            + json.dumps({"id": 1, "action": "memory"}).encode()
            + b"\n"
        )
        data = b""
        while not data.endswith(b"\n"):
            data += conn.recv(65536)
    report: dict[str, Any] = json.loads(data)
    return report


def session_run(browser: Any, env: dict[str, str], edits: int) -> dict[str, Any]:
    server = ApiServer.start(
        Path(tempfile.mkdtemp(prefix="kp-bench-mem-")), pool_size=0, dev_server_env=json.dumps(env)
    )
    try:
        with server.client() as api:
            began = time.perf_counter()
            body = api.post(
                "/kontext/preview", params={"wait": "true"}, json={"files": project_files()}
            ).json()
            create_ms = (time.perf_counter() - began) * 1000
            sid = body["sessionId"]
            page = browser.new_page()
            page.goto(body["previewUrl"])
            page.wait_for_selector("#title")
            times = []
            for i in range(edits):
                text = f"edit {i}"
                began = time.perf_counter()
                api.post(
                    f"/kontext/preview/{sid}/update",
                    json={"files": [{"name": HEADER, "content": header(text)}]},
                )
                page.wait_for_function(
                    f"document.querySelector('#title')?.textContent === {text!r}"
                )
                times.append((time.perf_counter() - began) * 1000)
            time.sleep(IDLE_SECONDS)
            (pid,) = agent_pids(sid)
            report = agent_memory(pid)
            status = proc_status(pid)
            page.close()
    finally:
        server.stop()
    times.sort()
    return {
        "createMs": create_ms,
        "editP50": statistics.median(times),
        "editP95": times[int(len(times) * 0.95) - 1],
        "rss": status["VmRSS"],
        "rssAnon": status["RssAnon"],
        "rssFile": status["RssFile"],
        "pss": status["Pss"],
        "heapTotal": report["heapTotal"] / MB,
        "heapUsed": report["heapUsed"] / MB,
        "external": report["external"] / MB,
        "threads": report["threads"],
        "modules": report["modules"],
        "transforms": (report["transformCode"] + report["transformMaps"]) / MB,
    }


def plain_vite_run(browser: Any) -> dict[str, float]:
    with plain_vite_app() as app, plain_vite_server(app, 5199) as vite:
        page = browser.new_page()
        while True:
            try:
                page.goto("http://127.0.0.1:5199/")
                break
            except Exception:
                time.sleep(0.05)
        page.wait_for_selector("#title")
        time.sleep(IDLE_SECONDS)
        status = proc_status(vite.pid)
        page.close()
    return {"rss": status["VmRSS"], "rssAnon": status["RssAnon"], "rssFile": status["RssFile"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--edits", type=int, default=20)
    args = parser.parse_args()
    with chromium() as browser:
        runs = {
            "Vite's defaults": session_run(browser, {}, args.edits),
            "DEV_SERVER_ENV": session_run(browser, DEV_SERVER_ENV, args.edits),
        }
        plain = plain_vite_run(browser)
    print("idle dev server (template app, local, after a page load and edits), MB:")
    print(
        f"  plain vite: RSS {plain['rss']:.0f}"
        f" (anon {plain['rssAnon']:.0f}, file {plain['rssFile']:.0f})"
    )
    for name, r in runs.items():
        print(
            f"  {name}: RSS {r['rss']:.0f} (anon {r['rssAnon']:.0f}, file {r['rssFile']:.0f},"
            f" PSS {r['pss']:.0f});"
            f" V8 heap {r['heapTotal']:.0f} ({r['heapUsed']:.0f} used), external"
            f" {r['external']:.0f}; {r['threads']} threads; {r['modules']} modules,"
            f" transforms {r['transforms']:.1f}; edit p50/p95 {r['editP50']:.1f} /"
            f" {r['editP95']:.1f} ms; create {r['createMs']:.0f} ms"
        )
    print(write_json("memory.json", {"plainVite": plain, **runs}))


if __name__ == "__main__":
    main()
