"""The local import graph (changes/imports.py). A stylesheet a module imports with a
value query (``?raw``, ``?inline``, ``?url``, ``?worker``) is a value of that module, not
a page stylesheet: its edit is no css-injection (issue 18, point 2; the browser side is in
test_css_injection.py). Files Vite leaves stale after a rename or a ``composes`` source's
edit are found (point 4; the browser side is in tests/previews/test_live_equals_fresh.py)."""

import pytest

from kontext_preview.changes import analyze
from kontext_preview.changes.imports import local_imports, untracked_dependents, value_imports

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


def test_an_importer_whose_import_resolves_elsewhere_after_a_rename_is_stale() -> None:
    old = {
        "src/App.tsx": b'import About from "./pages/About";\nimport H from "./Header";\n',
        "src/Other.tsx": b'import H from "./Header";\n// About\n',
        "src/Header.tsx": b"export default 1;\n",
        "src/pages/About.tsx": b"export default 2;\n",
    }
    new = {**old, "src/pages/About.jsx": old.pop("src/pages/About.tsx")}
    old["src/pages/About.tsx"] = new["src/pages/About.jsx"]
    changed = ["src/pages/About.tsx", "src/pages/About.jsx"]
    assert untracked_dependents(old, new, changed) == ["src/App.tsx"]


def test_a_new_index_file_makes_a_folder_import_resolve_and_its_importer_stale() -> None:
    old = {
        "src/App.tsx": b'import { x } from "./lib";\n',
        "src/lib.ts": b"export const x = 1;\n",
    }
    new = {**old, "src/lib/index.ts": b"export const x = 2;\n"}
    del new["src/lib.ts"]
    assert untracked_dependents(old, new, ["src/lib.ts", "src/lib/index.ts"]) == ["src/App.tsx"]


def test_an_edit_adding_no_file_leaves_importers_alone() -> None:
    new = {**FILES, "src/pages/Page/index.tsx": b"export default () => 1;\n"}
    assert untracked_dependents(FILES, new, ["src/pages/Page/index.tsx"]) == []


def test_css_modules_composing_from_an_edited_stylesheet_are_stale_transitively() -> None:
    old = {
        "src/base.module.css": b".base { color: red; }\n",
        "src/Button.module.css": b'.button { composes: base from "./base.module.css"; }\n',
        "src/Primary.module.css": b'.p { composes: button from "./Button.module.css"; }\n',
        "src/Other.module.css": b".o { color: red; } /* base.module.css */\n",
    }
    new = {**old, "src/base.module.css": b".base { color: blue; }\n"}
    assert untracked_dependents(old, new, ["src/base.module.css"]) == [
        "src/Button.module.css",
        "src/Primary.module.css",
    ]


def test_an_import_left_without_its_file_is_left_to_vite() -> None:
    """A deleted file its importer still imports: Vite's own handling shows the error (the
    importer fails to load the old URL); re-transforming the importer adds nothing."""
    old = {"src/App.tsx": b'import E from "./Extra";\n', "src/Extra.tsx": b"export default 1;\n"}
    new = {"src/App.tsx": old["src/App.tsx"]}
    assert untracked_dependents(old, new, ["src/Extra.tsx"]) == []
