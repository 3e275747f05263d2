"""Load: N sessions, each sent M updates a second by a thread of its own, for T seconds,
on loopback; then a check that nothing was lost or reordered.

    python -m benchmarks.load [--sessions 20] [--rate 10] [--seconds 20] [--distributed]
                              [--streams 0,300,1000]

``--streams``: a run for each count, with that many Server-Sent Events streams held open
on the API (spread over the sessions) while the updates go; every stream must get every
accepted update's ``update.applied`` and none may drop (reported as ``streams``).

Every accepted update (HTTP 200) carries the session's sequence number (`seq`). After the
run, each session's event stream must hold exactly the accepted updates, applied in
`seq` order with no gap, and the file the updates wrote must hold the last one's content.
Reports requests, errors, lost and out-of-order updates, and p50/p95 of the answer time.
Bounded in count and time; measurement only (the test suite asserts the losslessness on a
small run: tests/adversarial/test_load.py).
"""

import argparse
import asyncio
import contextlib
import itertools
import json
import multiprocessing
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import spread, write_json
from tests.distributed.cluster import Cluster, read_events
from tests.project import project_files
from tests.server import ALICE_KEY, ApiServer

FILE = "src/frontend/src/Header.tsx"


def content(session_index: int, k: int) -> str:
    text = f"s{session_index} k{k}"
    return f'export default function Header() {{\n  return <h1 id="title">{text}</h1>;\n}}\n'


@dataclass
class Sent:
    """One session's traffic: what was accepted (seq → k), refused, and how fast."""

    accepted: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    last_k: int = -1


def drive(base_url: str, sid: str, index: int, rate: float, seconds: float) -> Sent:
    sent = Sent()
    gap = 1 / rate
    deadline = time.monotonic() + seconds
    with httpx.Client(
        base_url=base_url,
        headers={"authorization": f"Bearer {ALICE_KEY}"},
        timeout=60,
        trust_env=False,
    ) as client:
        k = 0
        while time.monotonic() < deadline:
            began = time.perf_counter()
            try:
                answer = client.post(
                    f"/kontext/preview/{sid}/update",
                    json={"files": [{"name": FILE, "content": content(index, k)}]},
                )
            except httpx.HTTPError as exc:
                sent.errors.append(f"{type(exc).__name__}: {exc}")
            else:
                if answer.status_code == 200:
                    sent.accepted[int(answer.json()["seq"])] = k
                    sent.last_k = k
                else:
                    sent.errors.append(f"{answer.status_code} {answer.text[:200]}")
            sent.latencies.append((time.perf_counter() - began) * 1000)
            k += 1
            time.sleep(max(0.0, gap - (time.perf_counter() - began)))
    return sent


def check(server: ApiServer, sid: str, index: int, sent: Sent, wait: float = 120) -> dict[str, int]:
    """Lost: accepted but never applied (or not what is served); out of order: applied
    events whose seq did not go up by one."""
    wanted = set(sent.accepted)
    seqs: list[int] = []

    def done(event: Any) -> bool:
        if event.type == "update.applied":
            seqs.append(int(event.data["seq"]))
        return wanted <= set(seqs)

    if wanted:
        with contextlib.suppress(httpx.ReadTimeout):  # what never came is counted below
            read_events(server.base_url, sid, until=done, timeout=wait)
    out_of_order = sum(1 for a, b in itertools.pairwise(seqs) if b != a + 1)
    lost = len(set(sent.accepted) - set(seqs))
    if lost or out_of_order:
        print(f"session {sid}: accepted {sorted(sent.accepted)}, applied in order {seqs}")
        print(f"errors: {sent.errors}")
    served = server.preview_get(sid, "/src/Header.tsx").text
    if sent.last_k >= 0 and f'"s{index} k{sent.last_k}"' not in served:  # a JSX string
        lost += 1  # the last accepted update is not what the preview serves
    return {"lost": lost, "out_of_order": out_of_order}


class Streams:
    """``count`` SSE streams of ``sessions`` (round robin) held open by a process of their
    own (asyncio + httpx: their parsing shares no CPU time or GIL with the senders), each
    keeping the seq of every ``update.applied`` it receives."""

    def __init__(self, base_url: str, sessions: list[str], count: int, key: str = ALICE_KEY):
        self.count = count
        self._conn, child = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("spawn").Process(
            target=_hold_streams, args=(base_url, sessions, count, key, child), daemon=True
        )

    def __enter__(self) -> "Streams":
        self._process.start()
        if not self._conn.poll(180):
            raise RuntimeError("the streams did not open within 180 s")
        opened, dropped = self._conn.recv()
        if opened < self.count:
            raise RuntimeError(f"{opened} of {self.count} streams opened: {dropped[:3]}")
        return self

    def __exit__(self, *_: Any) -> None:
        with contextlib.suppress(OSError):
            self._conn.send("stop")
        self._process.join(60)
        if self._process.is_alive():
            self._process.kill()

    def state(self) -> tuple[list[list[int]], list[str]]:
        """Each stream's applied seqs so far, and why each dropped stream ended."""
        self._conn.send("state")
        applied, dropped = self._conn.recv()
        return applied, dropped


def _hold_streams(
    base_url: str, sessions: list[str], count: int, key: str, conn: Connection
) -> None:
    applied: list[list[int]] = [[] for _ in range(count)]
    dropped: list[str] = []
    opened = [0]

    async def follow(client: httpx.AsyncClient, index: int, sid: str) -> None:
        try:
            async with client.stream("GET", f"/kontext/preview/{sid}/events") as response:
                if response.status_code != 200:
                    dropped.append(f"stream {index}: HTTP {response.status_code}")
                    return
                opened[0] += 1
                kind = ""
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:") and kind == "update.applied":
                        applied[index].append(int(json.loads(line[5:])["seq"]))
            dropped.append(f"stream {index}: ended by the server")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            dropped.append(f"stream {index}: {type(exc).__name__}: {exc}")

    async def main() -> None:
        limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=0)
        async with httpx.AsyncClient(
            base_url=base_url,
            headers={"authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(60, read=None),
            limits=limits,
            trust_env=False,
        ) as client:
            tasks = [
                asyncio.create_task(follow(client, i, sessions[i % len(sessions)]))
                for i in range(count)
            ]
            while opened[0] + len(dropped) < count:  # noqa: ASYNC110 (a count, not an event)
                await asyncio.sleep(0.05)
            conn.send((opened[0], dropped))
            loop = asyncio.get_running_loop()
            while (ask := await loop.run_in_executor(None, conn.recv)) != "stop":
                if ask == "state":
                    conn.send((applied, dropped))
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


def run(
    server: ApiServer, sessions: int, rate: float, seconds: float, streams: int = 0
) -> dict[str, Any]:
    with server.client() as api:
        ids = []
        for _ in range(sessions):
            created = api.post(
                "/kontext/preview", params={"wait": "true"}, json={"files": project_files()}
            )
            ids.append(created.json()["sessionId"])
        opened = Streams(server.base_url, ids, streams) if streams else None
        with opened or contextlib.nullcontext():
            report = _drive_all(server, ids, rate, seconds)
            accepted_by = report.pop("accepted_by")
            report["streams"] = _streams_report(opened, ids, accepted_by) if opened else None
        for sid in ids:
            api.delete(f"/kontext/preview/{sid}")
    return report


def _streams_report(
    streams: Streams, ids: list[str], accepted: list[set[int]], wait: float = 60
) -> dict[str, Any]:
    """How many streams missed an accepted update's update.applied (after ``wait`` s at
    most), and how many dropped."""
    deadline = time.monotonic() + wait
    while True:
        applied, dropped = streams.state()
        missing = sum(
            1 for i, seqs in enumerate(applied) if not accepted[i % len(ids)] <= set(seqs)
        )
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return {
        "open": streams.count,
        "missed_updates": missing,
        "dropped": len(dropped),
        "dropped_samples": dropped[:3],
    }


def _drive_all(server: ApiServer, ids: list[str], rate: float, seconds: float) -> dict[str, Any]:
    results: dict[int, Sent] = {}
    threads = [
        threading.Thread(
            target=lambda i=i, sid=sid: results.__setitem__(
                i, drive(server.base_url, sid, i, rate, seconds)
            )
        )
        for i, sid in enumerate(ids)
    ]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 120)
    took = time.perf_counter() - began
    checks = [check(server, sid, i, results[i]) for i, sid in enumerate(ids)]
    everything = [v for r in results.values() for v in r.latencies]
    accepted = sum(len(r.accepted) for r in results.values())
    return {
        "accepted_by": [set(results[i].accepted) for i in range(len(ids))],
        "sessions": len(ids),
        "rate_per_session": rate,
        "seconds": round(took, 1),
        "sent": len(everything),
        "accepted": accepted,
        "updates_per_second": round(accepted / took, 1),
        "errors": sum(len(r.errors) for r in results.values()),
        "error_samples": [e for r in results.values() for e in r.errors][:5],
        "lost": sum(c["lost"] for c in checks),
        "out_of_order": sum(c["out_of_order"] for c in checks),
        "answer_ms": spread(everything),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--rate", type=float, default=10.0, help="updates a second per session")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--distributed", action="store_true", help="API in front of a worker")
    parser.add_argument(
        "--streams", default="0", help="open SSE streams during the run; a comma list: a run each"
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kp-load-"))
    limits = {"max_running_sessions": args.sessions + 2, "max_sessions_per_user": args.sessions + 2}
    cluster = Cluster.start(root, ("load",), **limits) if args.distributed else None
    server = cluster.api if cluster else ApiServer.start(root, **limits)
    reports = []
    try:
        for streams in [int(n) for n in args.streams.split(",")]:
            report = run(server, args.sessions, args.rate, args.seconds, streams)
            reports.append(report)
            a, held = report["answer_ms"], report["streams"]
            print(
                f"{report['sessions']} sessions x {report['rate_per_session']:g} updates/s for "
                f"{report['seconds']} s ({'distributed' if args.distributed else 'embedded'}, "
                f"{streams} open streams): {report['sent']} sent, {report['accepted']} accepted "
                f"({report['updates_per_second']:g}/s), {report['errors']} errors, "
                f"{report['lost']} lost, {report['out_of_order']} out of order; answer p50 "
                f"{a['p50']:.1f} ms, p95 {a['p95']:.1f} ms"
                + (
                    f"; streams: {held['missed_updates']} missed an update, "
                    f"{held['dropped']} dropped"
                    if held
                    else ""
                )
            )
    finally:
        (cluster or server).stop()
        shutil.rmtree(root, ignore_errors=True)
    print(write_json("load.json", reports if len(reports) > 1 else reports[0]))


if __name__ == "__main__":
    main()
