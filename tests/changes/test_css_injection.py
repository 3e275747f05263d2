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
