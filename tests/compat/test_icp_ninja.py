"""An Internet Computer project in the ICP Ninja shape (it installs on both backends:
tests/sandbox/test_lockfiles.py): a root package.json with npm
`workspaces: ["frontend"]` (npm hoists every dependency into the root node_modules),
`backend/main.mo`, and the frontend pinned to Vite 5.4.11 as DFINITY's examples are."""

import json
from typing import Any

import httpx
import pytest

from tests.conftest import create_session
from tests.server import ApiServer, wait_for

pytestmark = [pytest.mark.vite, pytest.mark.network]

MAIN = (
    'import { createRoot } from "react-dom/client";\n'
    'createRoot(document.getElementById("root")).render(<h1 id="title">Ninja</h1>);\n'
)
CONFIG = (
    'import { defineConfig } from "vite";\nimport react from "@vitejs/plugin-react";\n'
    "export default defineConfig({ plugins: [react()] });\n"
)
# What the ICP examples' config does without a local network (it asks `icp network status`).
NEEDS_NETWORK = (
    'import { defineConfig } from "vite";\nimport react from "@vitejs/plugin-react";\n'
    "export default defineConfig(({ command }) => {\n"
    '  if (command === "serve")\n'
    '    throw new Error("icp network status: no local network is running");\n'
    "  return { plugins: [react()] };\n});\n"
)


def ninja(config: str) -> list[dict[str, Any]]:
    frontend = {
        "name": "frontend",
        "private": True,
        "type": "module",
        "dependencies": {"react": "18.3.1", "react-dom": "18.3.1"},
        "devDependencies": {"vite": "5.4.11", "@vitejs/plugin-react": "4.3.3"},
    }
    root = {"name": "ninja", "private": True, "workspaces": ["frontend"]}
    files = {
        "package.json": json.dumps(root),
        "backend/main.mo": 'persistent actor { public func greet() : async Text { "hi" } };\n',
        "frontend/package.json": json.dumps(frontend),
        "frontend/index.html": (
            '<div id="root"></div><script type="module" src="/src/main.jsx"></script>\n'
        ),
        "frontend/src/main.jsx": MAIN,
        "frontend/vite.config.js": config,
    }
    return [{"name": n, "content": c} for n, c in files.items()]


def test_a_config_that_needs_a_local_network_fails_and_serves_its_build(
    server: ApiServer, api: httpx.Client
) -> None:
    session = create_session(api, ninja(NEEDS_NETWORK))
    sid = session["sessionId"]
    assert session["status"] == "failed", session
    assert "no local network is running" in session["error"]
    # The build is served at the preview's own address once it is published.
    assert wait_for(lambda: server.preview_get(sid).status_code == 200, timeout=120)
    assert '<div id="root">' in server.preview_get(sid).text
    deployed = api.get(f"/kontext/preview/{sid}").json()["deploymentUrl"]
    assert deployed
    host = deployed.split("//", 1)[1].split("/", 1)[0]
    site = httpx.get(server.base_url + "/", headers={"host": host}, trust_env=False)
    assert site.status_code == 200 and '<div id="root">' in site.text
    api.delete(f"/kontext/preview/{sid}")
