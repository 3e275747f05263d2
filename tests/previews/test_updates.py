"""How updates reach a running session: notify, reload or restart."""

import time
from typing import Any

import httpx
import pytest

from tests.conftest import create_session, with_dependency
from tests.server import ApiServer, agent_pids

pytestmark = pytest.mark.vite


def update(api: httpx.Client, sid: str, files: list[dict[str, Any]]) -> dict[str, Any]:
    response = api.post(
        f"/kontext/preview/{sid}/update", params={"wait": "true"}, json={"files": files}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_new_dependency_restarts_the_dev_server(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    sid = create_session(api, files)["sessionId"]
    [before] = agent_pids(sid)
    package = next(
        f
        for f in with_dependency(files, "semver", "^7.0.0")
        if f["name"] == "src/frontend/package.json"
    )
    result = update(api, sid, [package])
    assert result["restarted"] is True and result["hmrTriggered"] is False
    assert result["status"] == "active"
    assert agent_pids(sid) != [before]  # a new dev server
    assert server.preview_get(sid, "/src/Header.tsx").status_code == 200
    # The same package.json again changes nothing and restarts nothing.
    again = update(api, sid, [package])
    assert again["unchanged"] == ["src/frontend/package.json"] and again["restarted"] is False
    api.delete(f"/kontext/preview/{sid}")


def test_an_edit_to_index_html_reaches_the_browser(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    sid = create_session(api, files)["sessionId"]
    html = next(f for f in files if f["name"] == "src/frontend/index.html")
    edited = {**html, "content": html["content"].replace("Kontext demo", "Renamed app")}
    result = update(api, sid, [edited])
    assert result["hmrTriggered"] is True and result["restarted"] is False
    assert "<title>Renamed app</title>" in server.preview_get(sid).text
    api.delete(f"/kontext/preview/{sid}")


def test_an_unrelated_file_triggers_no_hmr(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    sid = create_session(api, files)["sessionId"]
    result = update(api, sid, [{"name": "src/backend/main.mo", "content": "actor { };\n"}])
    assert result["updated"] == ["src/backend/main.mo"]
    assert result["hmrTriggered"] is False and result["restarted"] is False
    api.delete(f"/kontext/preview/{sid}")


def test_read_your_writes_a_request_after_an_update_gets_the_new_file(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    """Read your writes: once the update is answered, the preview serves the new module
    (the agent invalidates before it answers, not when Vite's watcher handling gets there)."""
    sid = create_session(api, files)["sessionId"]
    for i in range(40):
        text = f"Written {i}"
        content = f'export default function Header() {{\n  return <h1 id="title">{text}</h1>;\n}}\n'
        update(api, sid, [{"name": "src/frontend/src/Header.tsx", "content": content}])
        served = server.preview_get(sid, "/src/Header.tsx")
        assert f'"{text}"' in served.text, f"update {i}: stale module served"
    api.delete(f"/kontext/preview/{sid}")


def test_a_file_vite_config_imports_is_build_config_and_restarts_vite(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    """Issue 18, point 3: Vite restarts for a file its config imports; the analysis of the
    update says so (build-config), and the dev server serves the app with the new value."""
    config = "src/frontend/vite.config.ts"
    defines = "src/frontend/defines.ts"
    files = [
        *(f for f in files if f["name"] != config),
        {
            "name": config,
            "content": 'import { defineConfig } from "vite";\n'
            'import react from "@vitejs/plugin-react";\n'
            'import { define } from "./defines";\n'
            "export default defineConfig({ plugins: [react()], define });\n",
        },
        {"name": defines, "content": "export const define = { __BANNER__: '\"one\"' };\n"},
    ]
    sid = create_session(api, files)["sessionId"]
    result = update(
        api,
        sid,
        [{"name": defines, "content": "export const define = { __BANNER__: '\"two\"' };\n"}],
    )
    [change] = result["changes"]
    assert change["class"] == "build-config", change
    assert "vite.config.ts" in change["reasons"][0]
    # Vite restarts in place (as its own watcher would): its pages' client waits for it by
    # pinging; a request during the restart is answered 502, so ask until it is back.
    deadline = time.monotonic() + 30
    while (status := server.preview_get(sid, "/src/main.tsx").status_code) != 200:
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    api.delete(f"/kontext/preview/{sid}")


def test_a_large_module_is_compared_by_lines_in_a_session(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    """Issue 18, point 5: a generated module over KONTEXT_ANALYSIS_MAX_BYTES (256 KiB by
    default) is not parsed on the update path; Vite still gets the edit."""
    name = "src/frontend/src/generated.js"
    generated = "".join(f"export const v{i} = {i};\n" for i in range(20000))
    sid = create_session(api, [*files, {"name": name, "content": generated}])["sessionId"]
    edited = generated.replace("v777 = 777;", "v777 = 778;")
    result = update(api, sid, [{"name": name, "content": edited}])
    [change] = result["changes"]
    assert change["class"] == "component-structure"
    assert "analysis limit" in change["reasons"][0], change
    assert "v777 = 778" in server.preview_get(sid, "/src/generated.js").text
    api.delete(f"/kontext/preview/{sid}")
