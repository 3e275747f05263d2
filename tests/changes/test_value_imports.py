"""A stylesheet a module imports with a value query (``?raw``, ``?inline``, ``?url``,
``?worker``) is a value of that module, not a page stylesheet: its edit is no
css-injection (issue 18, point 2). The browser side is in test_css_injection.py."""

import pytest

from kontext_preview.changes import analyze
from kontext_preview.changes.imports import local_imports, value_imports

APP = b"""import "./index.css";
import snippet from "./snippet.css?raw";
import inlined from './theme.css?inline&v=2';
import Page from "./pages/Page";
export default function App() { return <pre>{snippet}{inlined}</pre>; }
"""
FILES = {
    "src/App.jsx": APP,
    "src/index.css": b"h1 { color: red; }\n",
    "src/snippet.css": b".one { color: red; }\n",
    "src/theme.css": b".t { color: red; }\n",
    "src/pages/Page/index.tsx": b"export default () => null;\n",
}


def test_imports_resolve_with_their_queries_as_vite_resolves_them() -> None:
    assert local_imports(FILES, "src/App.jsx") == [
        ("src/index.css", ""),
        ("src/snippet.css", "raw"),
        ("src/theme.css", "inline&v=2"),
        ("src/pages/Page/index.tsx", ""),
    ]


def test_only_value_imports_are_reported() -> None:
    found = value_imports(FILES, ["src/index.css", "src/snippet.css", "src/theme.css"])
    assert found == {
        "src/snippet.css": "src/App.jsx (?raw)",
        "src/theme.css": "src/App.jsx (?inline&v=2)",
    }


@pytest.mark.parametrize("name", ["src/snippet.css", "src/theme.css"])
def test_an_edit_of_a_stylesheet_imported_as_a_value_is_a_preview_update(name: str) -> None:
    new = {**FILES, name: b".two { color: blue; }\n"}
    (result,) = analyze(FILES, new).files
    assert (result.change_class, result.strategy) == ("content-only", "preview-update")
    assert result.reasons[0].startswith("imported as a value by src/App.jsx (?")


def test_a_page_stylesheet_beside_them_is_still_injected() -> None:
    new = {**FILES, "src/index.css": b"h1 { color: blue; }\n"}
    (result,) = analyze(FILES, new).files
    assert (result.change_class, result.strategy) == ("stylesheet", "css-injection")
