"""Change analysis time for a 20-file AI change set.

    python -m benchmarks.classification [--runs 300]

The change set mixes what an AI edit touches: 12 React components (~80 lines each,
Tailwind classes, hooks, handlers, text) with style, text and logic edits, 4
stylesheets, a Motoko canister, package.json, vite.config.ts and a renamed file.
Timed in-process (``analyze`` on the old and new file sets). Measurement only.
"""

# ruff: noqa: E501  (long lines are inside the sample component text)

import argparse
import json
import time
from typing import Any

from benchmarks.common import spread, write_json
from kontext_preview.changes import analyze

COMPONENT = """import {{ useState, useEffect }} from "react";
import {{ cn }} from "../lib/utils";

type Props = {{ title: string; items: string[]; onSelect?: (item: string) => void }};

export default function Panel{i}({{ title, items, onSelect }}: Props) {{
  const [open, setOpen] = useState(false);
  const [query, setQuery] = useState("");
  useEffect(() => {{
    document.title = `${{title}} ({{items.length}})`;
  }}, [title, items.length]);
  const visible = items.filter((item) => item.toLowerCase().includes(query.toLowerCase()));
  return (
    <section className="{section}">
      <header className="flex items-center justify-between border-b pb-2">
        <h2 className="text-lg font-semibold text-slate-900">{heading}</h2>
        <button
          className={{cn("rounded px-3 py-1 text-sm", open && "bg-slate-100")}}
          onClick={{() => setOpen({toggle})}}
        >
          {{open ? "Hide" : "Show"}} details
        </button>
      </header>
      <input
        className="mt-3 w-full rounded border px-2 py-1"
        placeholder="Search {i}..."
        value={{query}}
        onChange={{(event) => setQuery(event.target.value)}}
      />
      {{open && (
        <ul className="mt-2 space-y-1">
          {{visible.map((item) => (
            <li key={{item}} className="cursor-pointer hover:text-blue-600" onClick={{() => onSelect?.(item)}}>
              {{item}}
            </li>
          ))}}
        </ul>
      )}}
      <footer className="mt-4 text-xs text-slate-500">Showing {{visible.length}} of {{items.length}}</footer>
    </section>
  );
}}
""" + "\n".join(f"export const helper{n} = (value: number) => value * {n} + 1;" for n in range(30))

STYLESHEET = "\n".join(
    f".card-{n} {{\n  padding: {n}px;\n  color: rgb({n}, 40, 90);\n  border-radius: 4px;\n}}\n"
    for n in range(40)
)
MOTOKO = """actor {
  stable var counter : Nat = 0;
  public func increment() : async Nat { counter += 1; counter };
  public query func greet(name : Text) : async Text { "Hello, " # name # "!" };
};
"""


def change_set() -> tuple[dict[str, bytes], dict[str, bytes]]:
    old: dict[str, str] = {}
    new: dict[str, str] = {}
    for i in range(12):
        name = f"src/frontend/src/components/Panel{i}.tsx"
        base = {
            "i": i,
            "section": "rounded-lg bg-white p-4 shadow",
            "heading": "{title}",
            "toggle": "!open",
        }
        edit = dict(base)
        kind = i % 3
        if kind == 0:
            edit["section"] = "rounded-xl bg-slate-50 p-6 shadow-md"
        elif kind == 1:
            edit["heading"] = "{title} overview"
        else:
            edit["toggle"] = "(value) => !value"
        old[name], new[name] = COMPONENT.format(**base), COMPONENT.format(**edit)
    for i in range(4):
        name = f"src/frontend/src/styles/part{i}.css"
        old[name] = STYLESHEET
        new[name] = STYLESHEET.replace("padding: 7px", "padding: 9px")
    old["src/backend/main.mo"] = MOTOKO
    new["src/backend/main.mo"] = MOTOKO.replace("counter += 1", "counter += 2")
    package = {"dependencies": {"react": "^19.0.0", "react-dom": "^19.0.0"}}
    old["src/frontend/package.json"] = json.dumps(package, indent=2)
    package["dependencies"]["zustand"] = "^5.0.0"
    new["src/frontend/package.json"] = json.dumps(package, indent=2)
    config = 'import react from "@vitejs/plugin-react";\nexport default { plugins: [react()] };\n'
    old["src/frontend/vite.config.ts"] = config
    new["src/frontend/vite.config.ts"] = config.replace("[react()]", "[react()], base: '/'")
    old["src/frontend/src/lib/format.ts"] = COMPONENT.format(
        i=99, section="", heading="", toggle=""
    )
    new["src/frontend/src/lib/formatting.ts"] = old["src/frontend/src/lib/format.ts"]
    encode = lambda files: {k: v.encode() for k, v in files.items()}  # noqa: E731
    return encode(old), encode(new)


def run(runs: int) -> dict[str, Any]:
    old, new = change_set()
    analysis = analyze(old, new)
    assert len(analysis.files) == 20, len(analysis.files)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        analyze(old, new)
        times.append((time.perf_counter() - start) * 1000)
    return {
        "files": 20,
        "lines": sum(v.count(b"\n") for v in new.values()),
        **spread(times),
        "strategy": analysis.strategy.value,
        "classes": sorted({f.change_class.value for f in analysis.files}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    result = run(args.runs)
    print(
        f"change analysis, 20 files ({result['lines']} lines), {args.runs} runs: "
        f"p50 {result['p50']:.2f} ms, p95 {result['p95']:.2f} ms, p99 {result['p99']:.2f} ms"
    )
    print("strategy:", result["strategy"], "| classes:", result["classes"])
    print(write_json("classification.json", result))


if __name__ == "__main__":
    main()
