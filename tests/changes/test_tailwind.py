"""Issue 18, point 2: a Tailwind class a component starts using shows styled after the update.

Tailwind generates only the classes it finds in the project's sources, so an edit of a
component that uses a class nothing used before must make Tailwind generate it, and the
page must get the stylesheet again. Vite's watcher is off in our dev servers (the agent
replays each change as a watcher event): these tests check that the replayed change
reaches Tailwind as a file Vite's own watcher would have seen, in both ways projects use
it: Tailwind 3 as a PostCSS plugin (``tailwind.config`` content globs, which it reports to
Vite as dependency messages of the stylesheet) and Tailwind 4 as the ``@tailwindcss/vite``
plugin (``@import "tailwindcss"``, its scanner's files added as watch files of the
stylesheet). Either way Vite's module graph makes the stylesheet an importer of the
component, and Vite's HMR, as with its own watcher, updates both: no page reload, and no
css-injection (the changed file is a component, not a stylesheet).
"""

import json
from typing import Any

import httpx
import pytest

from tests.conftest import create_session

pytestmark = [pytest.mark.browser, pytest.mark.vite]

APP = "src/App.tsx"
NEW_CLASS = "text-[rgb(1,2,3)]"  # an arbitrary value: in no pre-built CSS, in no stack
NEW_COLOR = "rgb(1, 2, 3)"
STYLE = "getComputedStyle(document.querySelector('#title'))"
INDEX_HTML = (
    '<!doctype html>\n<html lang="en">\n  <head><meta charset="UTF-8" /><title>T</title></head>\n'
    '  <body>\n    <div id="root"></div>\n'
    '    <script type="module" src="/src/main.tsx"></script>\n  </body>\n</html>\n'
)
MAIN = (
    'import { createRoot } from "react-dom/client";\n'
    'import App from "./App.tsx";\n'
    'import "./index.css";\n\n'
    'createRoot(document.getElementById("root")!).render(<App />);\n'
)


def app(class_name: str) -> str:
    return (
        "export default function App() {\n"
        "  return (\n"
        "    <main>\n"
        f'      <h1 id="title" className="{class_name}">Tailwind</h1>\n'
        "    </main>\n"
        "  );\n"
        "}\n"
    )


def package(dependencies: dict[str, str], dev: dict[str, str]) -> str:
    body = {
        "name": "tw",
        "private": True,
        "version": "0.0.0",
        "type": "module",
        "dependencies": dependencies,
        "devDependencies": dev,
    }
    return json.dumps(body, indent=2)


def tailwind3_project() -> list[dict[str, Any]]:
    """React 18, Vite 5, Tailwind 3 through PostCSS, as shadcn/ui templates set it up."""
    return [
        {"name": "index.html", "content": INDEX_HTML},
        {
            "name": "package.json",
            "content": package(
                {"react": "^18.3.1", "react-dom": "^18.3.1"},
                {
                    "@vitejs/plugin-react-swc": "^3.11.0",
                    "autoprefixer": "^10.4.21",
                    "postcss": "^8.5.6",
                    "tailwindcss": "^3.4.17",
                    "vite": "^5.4.19",
                },
            ),
        },
        {
            "name": "vite.config.ts",
            "content": 'import { defineConfig } from "vite";\n'
            'import react from "@vitejs/plugin-react-swc";\n\n'
            "export default defineConfig({ plugins: [react()] });\n",
        },
        {
            "name": "postcss.config.js",
            "content": "export default { plugins: { tailwindcss: {}, autoprefixer: {} } };\n",
        },
        {
            "name": "tailwind.config.js",
            "content": "export default {\n"
            '  content: ["./index.html", "./src/**/*.{ts,tsx}"],\n'
            "  theme: { extend: {} },\n"
            "  plugins: [],\n"
            "};\n",
        },
        {
            "name": "src/index.css",
            "content": "@tailwind base;\n@tailwind components;\n@tailwind utilities;\n",
        },
        {"name": "src/main.tsx", "content": MAIN},
        {"name": APP, "content": app("text-sm")},
    ]


def tailwind4_project() -> list[dict[str, Any]]:
    """React 19, Vite 7, Tailwind 4 through its Vite plugin."""
    return [
        {"name": "index.html", "content": INDEX_HTML},
        {
            "name": "package.json",
            "content": package(
                {"react": "^19.1.0", "react-dom": "^19.1.0"},
                {
                    "@tailwindcss/vite": "^4.1.11",
                    "@vitejs/plugin-react": "^5.0.0",
                    "tailwindcss": "^4.1.11",
                    "vite": "^7.0.6",
                },
            ),
        },
        {
            "name": "vite.config.ts",
            "content": 'import { defineConfig } from "vite";\n'
            'import react from "@vitejs/plugin-react";\n'
            'import tailwindcss from "@tailwindcss/vite";\n\n'
            "export default defineConfig({ plugins: [react(), tailwindcss()] });\n",
        },
        {"name": "src/index.css", "content": '@import "tailwindcss";\n'},
        {"name": "src/main.tsx", "content": MAIN},
        {"name": APP, "content": app("text-sm")},
    ]


STACKS = [
    pytest.param("stacks/react18-vite5-tailwind3", tailwind3_project, id="tailwind3"),
    pytest.param("stacks/react19-vite7-tailwind4", tailwind4_project, id="tailwind4"),
]


def open_preview(browser: Any, url: str, vite_updates: list[Any] | None = None) -> Any:
    """A page on the preview, its app rendered and the agent's client running;
    ``vite_updates`` collects each of Vite's HMR messages that reaches it (update or reload)."""
    page = browser.new_page()
    if vite_updates is not None:
        page.on("websocket", lambda ws: ws.on("framereceived", _collect(vite_updates)))
    page.goto(url)
    # A cold machine reads the stack's node_modules for the first time here.
    page.wait_for_selector("#title", timeout=120_000)
    page.wait_for_function("window.__kontext !== undefined")
    return page


def _collect(into: list[Any]) -> Any:
    def received(frame: Any) -> None:
        try:
            message = json.loads(frame)
        except (TypeError, ValueError):
            return
        if isinstance(message, dict) and message.get("type") in ("update", "full-reload"):
            into.append(message)

    return received


@pytest.mark.parametrize(("stack", "project"), STACKS)
def test_a_class_newly_used_in_a_component_shows_styled_without_a_reload(
    api: httpx.Client, browser: Any, stack: str, project: Any
) -> None:
    session = create_session(api, project())
    sid = session["sessionId"]
    logs = api.get(f"/kontext/preview/{sid}").json()["logs"]
    assert session["status"] == "active", (session.get("error"), logs[-20:])
    provided = f"dependencies: all provided by the prepared template {stack}, nothing to install"
    assert provided in logs, [line for line in logs if line.startswith("dependencies")]
    updates: list[Any] = []
    page = open_preview(browser, session["previewUrl"], updates)
    try:
        # Tailwind is at work: text-sm is 14px, and the new colour is nowhere yet.
        assert page.evaluate(f"{STYLE}.fontSize") == "14px"
        assert page.evaluate(f"{STYLE}.color") != NEW_COLOR
        page.evaluate("window.__marker = 'kept'")
        before = page.evaluate("({...window.__kontext})")

        response = api.post(
            f"/kontext/preview/{sid}/update",
            json={"files": [{"name": APP, "content": app(NEW_CLASS)}]},
        )
        assert response.status_code == 200, response.text
        result = response.json()
        # A className edit of a component: style-only, which Vite's HMR carries (the
        # stylesheet Tailwind regenerates is not a changed file, nothing to inject).
        assert result["strategy"] == "preview-update", result
        assert result["changes"] == [
            {
                "name": APP,
                "previousName": None,
                "class": "style-only",
                "strategy": "preview-update",
                "reasons": ["line 4: className on <h1> changed"],
            }
        ], result["changes"]
        assert result["hmrTriggered"] is True and result["deploy"] is None, result

        page.wait_for_function(f"{STYLE}.color === '{NEW_COLOR}'")
        page.wait_for_function(
            "seq => window.__kontext.acks.some(a => a.seq === seq)", arg=result["seq"]
        )
        after = page.evaluate("({...window.__kontext})")
        assert page.evaluate("window.__marker") == "kept", "the page was reloaded"
        assert after["injected"] == before["injected"]  # no css-injection
        assert [a["kind"] for a in after["acks"] if a["seq"] == result["seq"]] == ["update"]
        assert not [u for u in updates if u["type"] == "full-reload"], updates
        updated = {u["path"] for m in updates for u in m.get("updates", [])}
        # Vite updated the component and, as its importer in the graph, the stylesheet.
        assert {"/src/App.tsx", "/src/index.css"} <= updated, updates
        assert page.evaluate(f"{STYLE}.fontSize") != "14px"  # text-sm is gone
    finally:
        page.close()

    fresh = open_preview(browser, session["previewUrl"])
    try:
        assert fresh.evaluate(f"{STYLE}.color") == NEW_COLOR  # Vite's cache has it too
        assert fresh.evaluate(f"{STYLE}.fontSize") != "14px"
    finally:
        fresh.close()
    api.delete(f"/kontext/preview/{sid}")
