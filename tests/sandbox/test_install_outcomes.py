"""Installs as the AI builders' projects need them (issue 29, point 4), on each backend:

- a peer-dependency conflict npm refuses (ERESOLVE: an AI builder's own Vite plugin pinned
  to an older Vite, lovable-tagger 1.1.9 wanting vite ^5 in a Vite 6 app) does not stop the
  session: it is installed with npm's legacy peer resolution, as pnpm and bun install it,
  and the session's status and log say what was overridden;
- an install the registry refuses (no such version) is not run again for updates that do not
  touch the dependencies: they fail at once with the same reason, until package.json changes.
"""

import json
from typing import Any

import pytest

from tests.conftest import create_session
from tests.distributed.cluster import read_events
from tests.server import ApiServer

pytestmark = [pytest.mark.vite, pytest.mark.network, pytest.mark.browser]

INDEX = (
    '<!doctype html><html><body><div id="root"></div>'
    '<script type="module" src="/src/main.jsx"></script></body></html>'
)
MAIN = (
    'import { createRoot } from "react-dom/client";\n'
    'createRoot(document.getElementById("root")).render(<h1 id="title">Tagged app</h1>);\n'
)
# As Lovable writes it: its tagger in development only.
CONFIG = (
    'import { defineConfig } from "vite";\nimport react from "@vitejs/plugin-react";\n'
    'import { componentTagger } from "lovable-tagger";\n\n'
    "export default defineConfig(({ mode }) => ({\n"
    '  plugins: [react(), mode === "development" && componentTagger()].filter(Boolean),\n'
    "}));\n"
)


def project(dependencies: dict[str, str], dev: dict[str, str]) -> list[dict[str, Any]]:
    package = {
        "name": "peer-conflict-app",
        "private": True,
        "type": "module",
        "dependencies": dependencies,
        "devDependencies": dev,
    }
    return [
        {"name": "index.html", "content": INDEX},
        {"name": "src/main.jsx", "content": MAIN},
        {"name": "vite.config.js", "content": CONFIG},
        {"name": "package.json", "content": json.dumps(package, indent=2)},
    ]


VITE6_WITH_OLD_TAGGER = project(
    {"react": "^18.3.1", "react-dom": "^18.3.1"},
    {"vite": "^6.3.5", "@vitejs/plugin-react": "^4.4.1", "lovable-tagger": "1.1.9"},
)


def test_a_peer_conflict_is_installed_as_the_builders_install_it(
    backend_server: ApiServer, browser: Any
) -> None:
    with backend_server.client() as api:
        session = create_session(api, VITE6_WITH_OLD_TAGGER)
        sid = session["sessionId"]
        try:
            assert session["status"] == "active", session
            [warning] = session["warnings"]
            assert "lovable-tagger@1.1.9 wants peer vite@^5.0.0" in warning, warning
            assert "--legacy-peer-deps" in warning, warning
            said = read_events(
                backend_server.base_url,
                sid,
                until=lambda e: "npm refused a peer" in e.data.get("line", ""),
                timeout=10,
            )
            assert "npm refused a peer" in said[-1].data.get("line", ""), said[-3:]
            page = browser.new_page()
            page.goto(session["previewUrl"])
            page.wait_for_selector("#title")
            page.close()
        finally:
            api.delete(f"/kontext/preview/{sid}")


def test_an_install_the_registry_refuses_is_not_run_again_for_other_changes(
    backend_server: ApiServer,
) -> None:
    missing = project(
        {"react": "^18.3.1", "react-dom": "^18.3.1", "is-number": "99.99.99"},
        {"vite": "^6.3.5", "@vitejs/plugin-react": "^4.4.1"},
    )
    missing = [f for f in missing if f["name"] != "vite.config.js"]
    with backend_server.client() as api:
        session = create_session(api, missing)
        sid = session["sessionId"]
        try:
            assert session["status"] == "failed", session
            assert "is-number" in session["error"], session["error"]
            for text in ("Edited once", "Edited twice"):
                edit = {
                    "files": [{"name": "src/main.jsx", "content": MAIN.replace("Tagged app", text)}]
                }
                answer = api.post(
                    f"/kontext/preview/{sid}/update", params={"wait": "true"}, json=edit
                )
                assert answer.status_code == 200, answer.text
            status = api.get(f"/kontext/preview/{sid}").json()
            assert status["status"] == "failed" and "not tried again" in status["error"], status
            installs = [
                line for line in status["logs"] if line.startswith("npm: ") and "code" in line
            ]
            assert len([line for line in installs if "ETARGET" in line]) == 1, status["logs"]
        finally:
            api.delete(f"/kontext/preview/{sid}")
