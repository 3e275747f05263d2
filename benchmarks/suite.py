"""`make bench`: every figure of kontext-preview's speed beside plain Vite, in one table.

    python -m benchmarks.suite [--quick]

Runs, in one headless Chromium: update → DOM (benchmarks.update_latency), session start
(benchmarks.sandbox_start), page load through the proxy (benchmarks.page_load), change
analysis (benchmarks.classification) and capacity (benchmarks.capacity); prints one table
with the goals beside the figures and writes it all to benchmarks/results/bench.json.
Each part also runs alone (`python -m benchmarks.<part> --help`). Measurement only:
nothing here fails on a number, and no goal is asserted anywhere.
"""

import argparse
from typing import Any

from benchmarks import capacity, classification, page_load, sandbox_start, update_latency
from benchmarks.common import chromium, versions, write_json


def run(quick: bool) -> dict[str, Any]:
    with chromium() as browser:
        return {
            "versions": versions(browser),
            "updates": update_latency.run(browser, 20 if quick else 50),
            "start": sandbox_start.run(browser, 3 if quick else 7),
            "page_load": page_load.run(browser, 4 if quick else 12),
            "analysis": classification.run(50 if quick else 300),
            "capacity": capacity.run(
                browser,
                [0, 10] if quick else [0, 100, 300],
                5 if quick else 20,
                4 if quick else 10,
                3 if quick else 10,
            ),
        }


def rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(figure, kontext-preview, plain Vite, ratio, goal) for the table."""
    up, start, load = r["updates"], r["start"], r["page_load"]

    def three(d: dict[str, float]) -> str:
        return f"{d['p50']:.1f} / {d['p95']:.1f} / {d['p99']:.1f}"

    out = []
    for label, goal, ours in (
        ("component edit → DOM, p50/p95/p99 ms", "p50 ≤ 1.1x plain", "kontext-preview/component"),
        ("CSS edit → DOM (injected)", "p50 < plain's HMR", "kontext-preview/css"),
        ("CSS edit → DOM (injection off)", "", "kontext (no inj.)/css"),
        ("component edit, distributed mode", "", "kontext distrib./component"),
    ):
        plain = up[f"plain vite/{ours.split('/')[1]}"]
        ratio = up[ours]["p50"] / plain["p50"]
        out.append((label, three(up[ours]), three(plain), f"{ratio:.2f}", goal))
    plain_start = start["plain vite (spawn → app)"]["app"]
    for name in (
        "local, cold start",
        "local, warm pool",
        "docker, cold start",
        "docker, warm pool",
    ):
        app = start[name]["app"]
        goal = "p50 < 1000 ms" if "warm pool" in name else ""
        out.append(
            (
                f"create → first paint, {name}, p50/p95 ms",
                f"{app['p50']:.0f} / {app['p95']:.0f}",
                f"{plain_start['p50']:.0f} / {plain_start['p95']:.0f} (spawn)",
                f"{app['p50'] / plain_start['p50']:.2f}",
                goal,
            )
        )
    proxy, direct = load["proxy"]["on_screen"], load["direct"]["on_screen"]
    out.append(
        (
            "page load → app on screen, p50/p95 ms",
            f"{proxy['p50']:.0f} / {proxy['p95']:.0f} (proxy)",
            f"{direct['p50']:.0f} / {direct['p95']:.0f} (direct)",
            f"{load['ratio']:.2f}",
            "≤ 1.2x direct",
        )
    )
    a = r["analysis"]
    out.append(
        ("change analysis, 20 files, p50/p99 ms", f"{a['p50']:.1f} / {a['p99']:.1f}", "", "", "")
    )
    cap = r["capacity"]
    for backend, m in cap["memory"].items():
        out.append(
            (
                f"memory per idle live session, {backend}: PSS (RSS)",
                f"{m['pss']:.0f} MB ({m['rss']:.0f})",
                "",
                "",
                "",
            )
        )
    base, last = cap["ramp"][0], cap["ramp"][-1]
    out.append(
        (
            f"update → page p95, 0 → {last['idle_sessions']} live idle sessions",
            f"{base['p95']:.1f} → {last['p95']:.1f} ms",
            "",
            f"{last['p95'] / base['p95']:.2f}x",
            "≤ 1.3x",
        )
    )
    z = cap["sizing"]
    out.append(
        (
            f"live idle sessions per {z['node_gib']:.0f} GiB node",
            ", ".join(f"{k} {v}" for k, v in z["live"].items()),
            "",
            "",
            "≥ 250",
        )
    )
    c = cap["concurrent"]
    out.append(
        (
            f"{c['sessions']} sessions updated at once, p50/p95 ms",
            f"{c['p50']:.1f} / {c['p95']:.1f}",
            "",
            f"{c['errors']} errors",
            "",
        )
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    args = parser.parse_args()
    report = run(args.quick)
    print("\n" + ", ".join(f"{k} {v}" for k, v in report["versions"].items()) + "\n")
    table = rows(report)
    head = ("figure", "kontext-preview", "plain Vite", "ratio", "goal")
    widths = [max(len(str(row[i])) for row in [head, *table]) for i in range(5)]
    for row in [head, tuple("-" * w for w in widths), *table]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))
    report["table"] = [dict(zip(head, row, strict=True)) for row in table]
    print("\n" + str(write_json("bench.json", report)))


if __name__ == "__main__":
    main()
