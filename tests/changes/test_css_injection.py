"""css-injection in a real browser: the agent's event carries the CSS, not a Vite update."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import create_session
from tests.server import ApiServer

pytestmark = [pytest.mark.browser, pytest.mark.vite]

CSS = "src/frontend/src/index.css"
COLOR = "getComputedStyle(document.querySelector('#title')).color"


def push_css(api: httpx.Client, sid: str, color: str) -> dict[str, Any]:
    body = {"files": [{"name": CSS, "content": f"#title {{\n  color: {color};\n}}\n"}]}
    response = api.post(f"/kontext/preview/{sid}/update", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def open_preview(browser: Any, url: str) -> Any:
    page = browser.new_page()
    page.goto(url)
    page.wait_for_selector("#title")
    page.wait_for_function("window.__kontext !== undefined")
    return page


def test_a_css_update_is_injected_and_survives_a_reload(
    server: ApiServer, api: httpx.Client, browser: Any, files: list[dict[str, Any]]
) -> None:
    session = create_session(api, files)
    sid = session["sessionId"]
    page = open_preview(browser, session["previewUrl"])
    page.evaluate("window.__marker = 'kept'")
    before = page.evaluate("({...window.__kontext})")

    result = push_css(api, sid, "rgb(255, 0, 128)")
    assert result["strategy"] == "css-injection"
    assert result["changes"] == [
        {
            "name": CSS,
            "previousName": None,
            "class": "stylesheet",
            "strategy": "css-injection",
            "reasons": ["rule #title changed"],
        }
    ]
    assert result["hmrTriggered"] is True and result["deploy"] is None
    page.wait_for_function(f"{COLOR} === 'rgb(255, 0, 128)'")
    after = page.evaluate("({...window.__kontext})")
    assert after["injected"] == before["injected"] + 1  # our event carried it
    assert after["viteUpdates"] == before["viteUpdates"]  # Vite sent no update
    assert page.evaluate("window.__marker") == "kept"

    page.reload()
    page.wait_for_selector("#title")
    assert page.evaluate(COLOR) == "rgb(255, 0, 128)"  # Vite's cache has the new CSS too
    page.close()
    api.delete(f"/kontext/preview/{sid}")


@pytest.fixture(scope="module")
def vite_css_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = ApiServer.start(
        tmp_path_factory.mktemp("vite-css"),
        change_policy_overrides='{"stylesheet": "preview-update"}',
    )
    yield server
    server.stop()


def test_with_injection_turned_off_vite_carries_the_css(
    vite_css_server: ApiServer, browser: Any, files: list[dict[str, Any]]
) -> None:
    """The control for the test above: the same edit through Vite's HMR is counted as such."""
    with vite_css_server.client() as api:
        session = create_session(api, files)
        page = open_preview(browser, session["previewUrl"])
        result = push_css(api, session["sessionId"], "rgb(1, 2, 3)")
        assert result["strategy"] == "preview-update"
        page.wait_for_function(f"{COLOR} === 'rgb(1, 2, 3)'")
        counts = page.evaluate("({...window.__kontext})")
        assert counts["injected"] == 0 and counts["viteUpdates"] >= 1
        page.close()


THEME = "src/frontend/src/theme.css"
DECORATION = "getComputedStyle(document.querySelector('#title')).textDecorationLine"


def test_a_stylesheet_reached_through_import_injects_its_importer(
    server: ApiServer, api: httpx.Client, browser: Any, files: list[dict[str, Any]]
) -> None:
    """Issue 18, point 2: ``index.css`` does ``@import './theme.css'``; an edit of
    ``theme.css`` that drops a declaration leaves no stale copy of it in the page (the
    importer, recompiled, replaces what the page loaded), and a fresh load agrees."""
    files = [
        *(f for f in files if f["name"] != CSS),
        {"name": CSS, "content": '@import "./theme.css";\n#title { font-weight: 700; }\n'},
        {
            "name": THEME,
            "content": "#title { color: rgb(255, 0, 0); text-decoration: underline; }\n",
        },
    ]
    session = create_session(api, files)
    sid = session["sessionId"]
    page = open_preview(browser, session["previewUrl"])
    assert page.evaluate(DECORATION) == "underline"
    response = api.post(
        f"/kontext/preview/{sid}/update",
        json={"files": [{"name": THEME, "content": "#title { color: rgb(0, 0, 255); }\n"}]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["strategy"] == "css-injection"
    page.wait_for_function(f"{COLOR} === 'rgb(0, 0, 255)'")
    assert page.evaluate(DECORATION) == "none"  # no stale underline from the old copy
    assert page.evaluate("document.querySelectorAll('style[data-vite-dev-id]').length") == 1
    page.reload()
    page.wait_for_selector("#title")
    assert (page.evaluate(COLOR), page.evaluate(DECORATION)) == ("rgb(0, 0, 255)", "none")
    page.close()
    api.delete(f"/kontext/preview/{sid}")


def test_a_stylesheet_imported_as_a_string_reaches_the_page_as_the_new_string(
    server: ApiServer, api: httpx.Client, browser: Any, files: list[dict[str, Any]]
) -> None:
    """Issue 18, point 2: ``import s from './snippet.css?raw'`` makes the file a string,
    not a page stylesheet; an edit of it must show the new text (Vite's HMR carries it),
    not be injected as a style the page never had."""
    app = "src/frontend/src/App.tsx"
    snippet = "src/frontend/src/snippet.css"
    files = [
        *(f for f in files if f["name"] != app),
        {
            "name": app,
            "content": 'import s from "./snippet.css?raw";\n'
            "export default function App() {\n"
            '  return <main><h1 id="title">T</h1><pre id="raw">{s}</pre></main>;\n'
            "}\n",
        },
        {"name": snippet, "content": ".one { color: red; }\n"},
    ]
    session = create_session(api, files)
    sid = session["sessionId"]
    page = open_preview(browser, session["previewUrl"])
    assert ".one" in page.inner_text("#raw")
    response = api.post(
        f"/kontext/preview/{sid}/update",
        json={"files": [{"name": snippet, "content": ".two { color: blue; }\n"}]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["strategy"] == "preview-update"
    assert response.json()["changes"][0]["reasons"] == [
        "imported as a value by src/frontend/src/App.tsx (?raw): its importer changes"
    ]
    page.wait_for_function("document.querySelector('#raw')?.textContent.includes('.two')")
    page.close()
    api.delete(f"/kontext/preview/{sid}")
