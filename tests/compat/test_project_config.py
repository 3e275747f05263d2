"""The project's own Vite config is honoured where the product adds something: with a
`base` (absolute, as MDN's React app sets one), the injected client loads under it, so
updates are acknowledged and runtime errors reported."""

from typing import Any

import httpx
import pytest

from tests.conftest import create_session, push, replace_file
from tests.distributed.cluster import read_events
from tests.server import ApiServer

pytestmark = [pytest.mark.browser, pytest.mark.vite]

CONFIG = "src/frontend/vite.config.ts"
HEADER = "src/frontend/src/Header.tsx"


def config_with(option: str) -> str:
    return (
        'import { defineConfig } from "vite";\nimport react from "@vitejs/plugin-react";\n\n'
        f"export default defineConfig({{ {option}, plugins: [react()] }});\n"
    )


@pytest.mark.parametrize("base", ["/app/", "/nested/path/", "./"])
def test_a_base_keeps_acknowledgements_and_error_reports(
    server: ApiServer, api: httpx.Client, browser: Any, files: list[dict[str, Any]], base: str
) -> None:
    session = create_session(api, replace_file(files, CONFIG, config_with(f'base: "{base}"')))
    sid = session["sessionId"]
    assert session["status"] == "active", session
    page = browser.new_page()
    missing: list[str] = []
    page.on("response", lambda r: r.status == 404 and missing.append(r.url))
    served = base if base.startswith("/") else "/"
    page.goto(session["previewUrl"].rstrip("/") + served)
    page.wait_for_selector("#title")
    assert page.evaluate("typeof window.__kontext") == "object", "the injected client did not load"

    result = push(
        api,
        sid,
        HEADER,
        'export default function Header() {\n  return <h1 id="title">Based</h1>;\n}\n',
    )
    page.wait_for_function("document.querySelector('#title').textContent === 'Based'")
    applied = read_events(
        server.base_url,
        sid,
        until=lambda e: e.type == "update.applied" and e.data["updateId"] == result["updateId"],
    )[-1]
    assert applied.data.get("browserAck") == "update", applied.data

    # A runtime error in the page is reported, with the project's file name.
    push(
        api,
        sid,
        HEADER,
        "export default function Header() {\n  throw new Error('boom in header');\n}\n",
    )
    error = read_events(
        server.base_url,
        sid,
        until=lambda e: e.type == "preview.error" and "boom" in e.data["message"],
    )[-1]
    assert error.type == "preview.error" and error.data["kind"] == "runtime", error.data
    assert not missing, missing
    page.close()
    api.delete(f"/kontext/preview/{sid}")
