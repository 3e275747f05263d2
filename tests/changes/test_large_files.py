"""Code files over the analysis limit are compared by lines, not parsed (issue 18, point 5)."""

from kontext_preview.changes import analyze

GENERATED = b"".join(b"export const v%d = %d;\n" % (i, i) for i in range(20000))  # ~450 KB
LIMIT = 256 * 1024


def test_a_large_file_edit_names_its_line_and_the_limit() -> None:
    new = GENERATED.replace(b"v777 = 777;", b"v777 = 778;")
    [result] = analyze({"src/gen.js": GENERATED}, {"src/gen.js": new}, max_bytes=LIMIT).files
    assert result.change_class.value == "component-structure"
    assert result.reasons[0].startswith("line 778 changed")
    assert "256 KiB analysis limit" in result.reasons[0]


def test_a_whitespace_edit_of_a_large_file_is_formatting() -> None:
    new = GENERATED.replace(b"v777 = 777;", b"v777  =  777;\n\n")
    [result] = analyze({"src/gen.js": GENERATED}, {"src/gen.js": new}, max_bytes=LIMIT).files
    assert result.change_class.value == "formatting"


def test_under_the_limit_the_file_is_parsed() -> None:
    """The same file under a higher limit gets the parser's reason (the token that changed)."""
    new = GENERATED.replace(b"v777 = 777;", b"v777 = 778;")
    [result] = analyze({"src/gen.js": GENERATED}, {"src/gen.js": new}, max_bytes=10**7).files
    assert "analysis limit" not in result.reasons[0]


def test_past_the_time_budget_the_remaining_code_files_are_compared_by_lines() -> None:
    """An update's analysis parses for ``budget_seconds``; later files get the line-level
    comparison, which says why (a budget of 0 s is spent before the first file)."""
    old = {f"src/m{i}.tsx": b"export const C = () => <p className='a'>x</p>;\n" for i in range(3)}
    new = {name: content.replace(b"'a'", b"'b'") for name, content in old.items()}
    parsed = analyze(old, new).files
    assert {r.change_class.value for r in parsed} == {"style-only"}
    budgeted = analyze(old, new, budget_seconds=0.0).files
    assert {r.change_class.value for r in budgeted} == {"component-structure"}
    assert "analysis budget of 0 ms was spent" in budgeted[0].reasons[0]
