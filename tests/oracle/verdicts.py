"""Our promise for each case against what plain Vite did (rule: :mod:`tests.oracle.vite_oracle`).

Each case's promise comes from our strategy and class; :func:`judge` compares it with the
:class:`~tests.oracle.vite_oracle.Outcome`, :func:`table` writes the rows as Markdown.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.oracle.project import plan_case
from tests.oracle.vite_oracle import KINDS, Outcome, PlainVite

PROMISES = {"css": "CSS only", "hmr": "Vite's HMR", "restart": "restart or reload"}
_RANK = {kind: len(KINDS) - i for i, kind in enumerate(KINDS)}


def promise_of(change_class: str, strategy: str) -> str:
    if strategy == "css-injection":
        return "css"
    if change_class in ("build-config", "dependencies"):
        return "restart"
    return "hmr"


def judge(promise: str, outcome: Outcome) -> tuple[str, str]:
    """(verdict, note): agreement, over-cautious, divergence or inconclusive."""
    kind = outcome.kind
    if kind == "error":
        return "inconclusive", "Vite reported only an error: " + "; ".join(outcome.errors[:2])
    if outcome.loaded is False:
        return "inconclusive", "the page never loaded the file"
    if kind == "nothing" and outcome.loaded:
        why = "; ".join(outcome.setup_errors[:2]) or "no error seen"
        return "inconclusive", f"Vite did nothing although the page loaded the file ({why})"
    most = {"css": "css-update", "hmr": "full-reload", "restart": "restart"}[promise]
    least = {"css": "css-update", "hmr": "js-update", "restart": "full-reload"}[promise]
    if _RANK[kind] > _RANK[most]:
        if outcome.errors:
            return "inconclusive", f"Vite: {kind}, with errors: " + "; ".join(outcome.errors[:2])
        return "divergence", f"we promise {PROMISES[promise]}, Vite does {kind}"
    errors = "; Vite errors: " + "; ".join(outcome.errors[:2]) if outcome.errors else ""
    if _RANK[kind] < _RANK[least]:
        return "over-cautious", f"we promise {PROMISES[promise]}, Vite does {kind}{errors}"
    return "agreement", errors[2:]


@dataclass(frozen=True)
class Row:
    case_id: str
    file: str
    change_class: str
    strategy: str
    outcome: Outcome
    verdict: str
    note: str

    @property
    def promise(self) -> str:
        return promise_of(self.change_class, self.strategy)


def classify(case: Any) -> tuple[str, str]:
    """Our (class, strategy) of a corpus case, as ``tests/changes/test_corpus.py`` asks."""
    from kontext_preview.changes import analyze

    def as_bytes(content: str | bytes) -> bytes:
        return content if isinstance(content, bytes) else content.encode()

    old = {case.old_file or case.file: as_bytes(case.old)} if case.old is not None else {}
    new = {case.file: as_bytes(case.new)} if case.new is not None else {}
    [result] = analyze(old, new).files
    return result.change_class.value, result.strategy.value


def run_case(vite: PlainVite, case: Any) -> Row:
    change_class, strategy = classify(case)
    plan = plan_case(case.id, case.file, case.old, case.new, case.old_file)
    outcome = vite.run(plan)
    verdict, note = judge(promise_of(change_class, strategy), outcome)
    return Row(case.id, case.file, change_class, strategy, outcome, verdict, note)


VERDICTS = ("agreement", "over-cautious", "divergence", "inconclusive")


def summary(rows: Iterable[Row]) -> dict[str, int]:
    rows = list(rows)
    counts = {"cases": len(rows)}
    counts.update({v: sum(r.verdict == v for r in rows) for v in VERDICTS})
    return counts


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(rows: Iterable[Row], known: Mapping[str, str] | None = None) -> str:
    rows = list(rows)
    counts = summary(rows)
    lines = [
        "# Classifier vs plain Vite 8 (tests/oracle)",
        "",
        ", ".join(f"{name}: {count}" for name, count in counts.items()),
        "",
        "| case | file | class | strategy | promise | Vite | modules | verdict | note | stubbed |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        note = r.note + (f" (KNOWN: {known[r.case_id]})" if known and r.case_id in known else "")
        cells = [
            r.case_id,
            r.file,
            r.change_class,
            r.strategy,
            PROMISES[r.promise],
            r.outcome.kind,
            ", ".join(r.outcome.updates),
            r.verdict,
            note,
            ", ".join(r.outcome.stubs),
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"
