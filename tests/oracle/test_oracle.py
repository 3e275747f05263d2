"""The classifier against a plain Vite dev server: no case may promise less than Vite does.

Each corpus case is classified (``kontext_preview.changes.analyze``, default policy) and
shown to a plain Vite 8 server with its page open in Chromium (:mod:`tests.oracle.vite_oracle`,
whose docstring has the comparison rule). A divergence fails unless ``KNOWN`` lists the case
with the decision; a listed case that no longer diverges fails too, so the list stays true.
``make test`` runs ``SAMPLE``; ``-m oracle`` runs the whole corpus and writes the table.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.changes.corpus import CASES, Case
from tests.oracle.verdicts import Row, run_case, summary, table
from tests.oracle.vite_oracle import PlainVite

pytestmark = [pytest.mark.browser, pytest.mark.vite]

# case id → why its divergence is accepted (a decision) or pending.
KNOWN: dict[str, str] = {}

# One or two cases of each kind of file and class; about 4 s each.
SAMPLE = (
    "css-header-background-color",  # stylesheet: css-update
    "css-module-class-renamed",  # style-only CSS module: its importer updates
    "css-module-declaration-change",  # was css-injection; Vite updates the importer
    "tsx-classname-swap",  # style-only: the component updates
    "ts-theme-primary-color",  # style-only, not a component: the importer updates
    "tsx-heading-text",  # content-only
    "json-locale-strings",  # content-only data
    "tsx-onclick-handler-change",  # component-structure
    "html-title-change",  # build-config: full reload
    "vite-comment-only",  # build-config: restart
    "vite-whitespace-only",  # was formatting; Vite restarts on any write
    "tsx-component-added",  # added
    "tsx-component-deleted",  # deleted
    "css-renamed-identical",  # renamed
)
BY_ID = {case.id: case for case in CASES}
ROWS: dict[str, Row] = {}  # what the cases found, for the table


@pytest.fixture(scope="module")
def vite(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlainVite]:
    """One plain Vite server for the module; each case restores the base project."""
    with PlainVite(tmp_path_factory.mktemp("oracle"), browser) as server:
        yield server


def check(vite: PlainVite, case: Case) -> None:
    row = run_case(vite, case)
    ROWS[case.id] = row
    seen = f"{row.outcome.kind} {list(row.outcome.updates)}; {row.note}"
    if case.id in KNOWN:
        assert row.verdict == "divergence", f"{case.id} agrees now ({seen}): remove it from KNOWN"
    else:
        assert row.verdict != "divergence", f"{case.id} ({row.change_class}): {seen}"


@pytest.mark.parametrize("case_id", SAMPLE)
def test_sample_case(vite: PlainVite, case_id: str) -> None:
    check(vite, BY_ID[case_id])


@pytest.mark.oracle
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_corpus_case(vite: PlainVite, case: Case) -> None:
    check(vite, case)


@pytest.mark.oracle
def test_corpus_table(
    capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Writes what the cases above found as a Markdown table (for the issue note)."""
    rows = [ROWS[case.id] for case in CASES if case.id in ROWS]
    assert rows, "run with the corpus cases (-m oracle)"
    path: Path = tmp_path_factory.mktemp("oracle-table") / "oracle.md"
    path.write_text(table(rows, KNOWN))
    with capsys.disabled():
        print(f"\nvite oracle table: {path}\nvite oracle summary: {summary(rows)}")
