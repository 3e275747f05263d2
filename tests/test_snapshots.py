"""Page snapshots' pure parts: which answer of a URL a request asks for, what a served
module imports, the files' digest, and dropping a snapshot (the serving and the wake are
tested with real dev servers in tests/sandbox/test_contract.py)."""

import json
from pathlib import Path

from kontext_preview.snapshots import (
    INDEX,
    PageSnapshot,
    drop,
    files_digest,
    imported_urls,
    variant,
)


def test_a_request_asks_for_a_page_a_stylesheet_or_a_module() -> None:
    assert variant("text/html,application/xhtml+xml", "iframe") == "document"
    assert variant("text/html", None) == "document"
    assert variant("text/css,*/*;q=0.1", "style") == "css"
    assert variant("*/*", "script") == ""
    assert variant(None, None) == ""


def test_the_imports_of_a_served_module_are_found_and_other_origins_left_out() -> None:
    code = (
        b'import{a as b}from"/@fs/x/deps/react-dom-Dv.js?v=3a";import "/src/index.css";\n'
        b'const lazy = () => import("/src/pages/About.tsx");\n'
        b'import x from "//cdn.example/x.js"; import y from "https://cdn.example/y.js";\n'
        b"export * from '/src/util.ts'; const s = \"/not/an/import\";"
    )
    assert imported_urls(code) == [
        "/@fs/x/deps/react-dom-Dv.js?v=3a",
        "/src/index.css",
        "/src/pages/About.tsx",
        "/src/util.ts",
    ]


def test_the_digest_follows_names_and_contents() -> None:
    files = {"a.js": b"1", "b.js": b"2"}
    assert files_digest(files) == files_digest(dict(reversed(files.items())))
    assert files_digest(files) != files_digest({"a.js": b"1", "b.js": b"3"})
    assert files_digest(files) != files_digest({"a.js": b"1", "c.js": b"2"})


def test_a_dropped_snapshot_is_gone_at_once(tmp_path: Path) -> None:
    folder = tmp_path / "snapshot"
    folder.mkdir()
    (folder / "abc").write_bytes(b"body")
    entry = {"url": "/", "variant": "document", "headers": [], "blob": "abc", "size": 4}
    (folder / INDEX).write_text(json.dumps({"key": "k", "entries": [entry]}))
    snapshot = PageSnapshot.read(folder)
    assert snapshot is not None and snapshot.lookup("/", "text/html", "document") is not None
    assert drop(folder) is True
    assert PageSnapshot.read(folder) is None
    assert drop(folder) is False
