"""Every labelled case of the corpus gets its expected class and strategy (default policy)."""

import pytest

from kontext_preview.changes import analyze
from tests.changes.corpus import CASES, Case


def as_bytes(content: str | bytes) -> bytes:
    return content if isinstance(content, bytes) else content.encode()


def test_the_corpus_is_big_and_covers_every_class() -> None:
    assert len(CASES) >= 80
    assert len({case.id for case in CASES}) == len(CASES)
    assert {case.cls for case in CASES} >= {
        "stylesheet",
        "style-only",
        "content-only",
        "formatting",
        "component-structure",
        "backend",
        "dependencies",
        "build-config",
        "static-asset",
        "added",
        "deleted",
        "renamed",
    }


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case(case: Case) -> None:
    old = {case.old_file or case.file: as_bytes(case.old)} if case.old is not None else {}
    new = {case.file: as_bytes(case.new)} if case.new is not None else {}
    analysis = analyze(old, new)
    [result] = analysis.files
    assert (result.change_class.value, result.strategy.value) == (case.cls, case.strategy), (
        result.reasons
    )
    assert result.reasons, "every decision says why"
