"""The project's own Vite config is honoured where the product adds something: with a
`base` (absolute, as MDN's React app sets one), a `publicDir`, an `envPrefix` or
`server.hmr` settings of its own (another client port and path, no overlay), the injected
client loads, updates are acknowledged and runtime errors reported. (`resolve.alias` is
exercised by the AI-stack app, tests/compat/test_stack_templates.py.)"""

from typing import Any

import httpx
import pytest

from tests.conftest import create_session, push, replace_file
from tests.distributed.cluster import read_events
from tests.server import ApiServer, agent_pids, inotify_watches

pytestmark = [pytest.mark.browser, pytest.mark.vite]

CONFIG = "src/frontend/vite.config.ts"
HEADER = "src/frontend/src/Header.tsx"


def config_with(option: str) -> str:
    return (
        'import { defineConfig } from "vite";\nimport react from "@vitejs/plugin-react";\n\n'
        f"export default defineConfig({{ {option}, plugins: [react()] }});\n"
    )


@pytest.mark.parametrize(
    ("option", "served"),
    [
        ('base: "/app/"', "/app/"),
        ('base: "/nested/path/"', "/nested/path/"),
        ('base: "./"', "/"),
        ('publicDir: "static"', "/"),
        ('envPrefix: ["APP_", "VITE_"]', "/"),
        ('server: { hmr: { clientPort: 3001, path: "/own-hmr", overlay: false } }', "/"),
    ],
)
def test_the_config_keeps_acknowledgements_and_error_reports(
    server: ApiServer,
    api: httpx.Client,
    browser: Any,
    files: list[dict[str, Any]],
    option: str,
    served: str,
) -> None:
    session = create_session(api, replace_file(files, CONFIG, config_with(option)))
    sid = session["sessionId"]
    assert session["status"] == "active", session
    page = browser.new_page()
    missing: list[str] = []
    page.on("response", lambda r: r.status == 404 and missing.append(r.url))
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


def test_a_server_section_keeps_the_file_watcher_off(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    """AI builders' configs set `server: { host, port }`; Vite's mergeConfig drops a null
    over it, so `watch: null` given inline alone would start chokidar on the project."""
    config = config_with('server: { host: "::", port: 8080, watch: { usePolling: false } }')
    session = create_session(api, replace_file(files, CONFIG, config))
    sid = session["sessionId"]
    assert session["status"] == "active", session
    assert [inotify_watches(pid) for pid in agent_pids(sid)] == [0]
    logs = api.get(f"/kontext/preview/{sid}").json()["logs"]
    assert not [line for line in logs if "started a file watcher" in line], "one was started"
    assert server.preview_get(sid, "/src/Header.tsx").status_code == 200  # now in the graph
    result = push(api, sid, HEADER, 'export default () => <h1 id="title">Watched</h1>;\n')
    assert result["hmrTriggered"] is True
    assert "Watched" in server.preview_get(sid, "/src/Header.tsx").text
    api.delete(f"/kontext/preview/{sid}")
