"""How long a look at a preview takes, and what looks cost the other sessions' updates.

    python -m benchmarks.inspect [--looks 10] [--edits 30]

- look: POST /kontext/preview/{id}/inspect on the template app (viewport screenshot),
  the first one (Chromium starts) and warm ones; `totalMs` (the service's own figure) and
  the call's round trip.
- update latency of another session while looks run: a component edit of session B,
  timed from just before its POST /update to the new text in B's page (open in the
  bench's own Chromium), without looks and with looks at session A running back to back
  in a thread, edits interleaved with quiet ones so both see the same machine.
Measurement only: nothing here fails on a number.
"""

import argparse
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.common import chromium, spread, versions, write_json
from tests.project import project_files
from tests.server import ApiServer

HEADER = "src/frontend/src/Header.tsx"


def header(text: str) -> str:
    return f'export default function Header() {{\n  return <h1 id="title">{text}</h1>;\n}}\n'


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--looks", type=int, default=10)
    parser.add_argument("--edits", type=int, default=30)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kp-bench-inspect-"))
    server = ApiServer.start(root)
    results: dict[str, Any] = {}
    try:
        with server.client() as api, chromium() as browser:
            results["versions"] = versions(browser)
            looked = api.post(
                "/kontext/preview", params={"wait": "true"}, json={"files": project_files()}
            ).json()["sessionId"]
            edited = api.post(
                "/kontext/preview", params={"wait": "true"}, json={"files": project_files()}
            ).json()["sessionId"]

            def look() -> tuple[float, float]:
                began = time.perf_counter()
                answer = api.post(f"/kontext/preview/{looked}/inspect", json={}).json()
                return answer["timings"]["totalMs"], (time.perf_counter() - began) * 1000

            first = look()
            warm = [look() for _ in range(args.looks)]
            results["look"] = {
                "firstTotalMs": first[0],
                "firstRoundTripMs": first[1],
                "warmTotalMs": spread([t for t, _ in warm]),
                "warmRoundTripMs": spread([r for _, r in warm]),
            }

            page = browser.new_page()
            page.goto(f"http://preview-{edited}.localhost:{server.port}/")
            page.wait_for_selector("#title")
            looking = threading.Event()
            stop = threading.Event()

            def keep_looking() -> None:
                with server.client() as own:
                    while not stop.is_set():
                        if looking.is_set():
                            own.post(f"/kontext/preview/{looked}/inspect", json={})
                        else:
                            time.sleep(0.05)

            looker = threading.Thread(target=keep_looking, daemon=True)
            looker.start()
            quiet: list[float] = []
            busy: list[float] = []
            for i in range(args.edits * 2):
                during = i % 2 == 1
                (looking.set if during else looking.clear)()
                time.sleep(0.3)  # let the looks get going (or finish)
                text = f"edit {i}"
                began = time.perf_counter()
                api.post(
                    f"/kontext/preview/{edited}/update",
                    json={"files": [{"name": HEADER, "content": header(text)}]},
                )
                page.wait_for_function(
                    "t => document.querySelector('#title')?.textContent === t",
                    arg=text,
                    polling="raf",
                )
                (busy if during else quiet).append((time.perf_counter() - began) * 1000)
            stop.set()
            looking.clear()
            looker.join(30)
            results["updateOfAnotherSession"] = {"quiet": spread(quiet), "lookingMs": spread(busy)}
    finally:
        server.stop()
    look_ = results["look"]
    update = results["updateOfAnotherSession"]
    print(results["versions"])
    print(
        f"look, first (Chromium starts): {look_['firstTotalMs']:.0f} ms "
        f"(round trip {look_['firstRoundTripMs']:.0f} ms)"
    )
    print(
        f"look, warm, p50 / p95: {look_['warmTotalMs']['p50']:.0f} / "
        f"{look_['warmTotalMs']['p95']:.0f} ms (n={look_['warmTotalMs']['n']})"
    )
    print(
        f"another session's edit → DOM, p50 / p95: quiet {update['quiet']['p50']:.1f} / "
        f"{update['quiet']['p95']:.1f} ms; while looks run {update['lookingMs']['p50']:.1f} / "
        f"{update['lookingMs']['p95']:.1f} ms"
    )
    print(write_json("inspect.json", results))


if __name__ == "__main__":
    main()
