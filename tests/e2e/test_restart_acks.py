"""Applied means visible: a change that restarts the dev server (Vite's own restart for
vite.config and .env, a new dev server for new dependencies) gets its ``update.applied``
only once the open page has reloaded from the restarted server (``browserAck:
"reload"``), not when the restart began."""

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import create_session, push
from tests.distributed.cluster import read_events
from tests.server import ApiServer

pytestmark = [pytest.mark.browser, pytest.mark.vite]

CONFIG = "src/frontend/vite.config.ts"
ENV = "src/frontend/.env"
PACKAGE = "src/frontend/package.json"


def applied_after_reload(
    server: ApiServer, sid: str, page: Any, send: Callable[[], dict[str, Any]]
) -> None:
    page.evaluate("window.__beforeTheUpdate = true")
    answer = send()
    events = read_events(
        server.base_url,
        sid,
        until=lambda e: e.type == "update.applied" and e.data["updateId"] == answer["updateId"],
        timeout=60,
    )
    applied = events[-1].data
    assert applied["browserAck"] == "reload", applied
    page.wait_for_selector("#title")
    assert page.evaluate("window.__beforeTheUpdate") is None, "the page did not reload"
    loaded = page.evaluate(
        "performance.timeOrigin + performance.getEntriesByType('navigation')[0].loadEventStart"
    )
    assert applied["at"] * 1000 >= loaded, (applied["at"] * 1000, loaded)


@pytest.fixture
def page_on(server: ApiServer, api: httpx.Client, browser: Any, files: list[dict[str, Any]]) -> Any:
    sid = create_session(api, files)["sessionId"]
    page = browser.new_page()
    page.goto(f"http://preview-{sid}.localhost:{server.port}/")
    page.wait_for_selector("#title")
    yield sid, page
    page.close()
    api.delete(f"/kontext/preview/{sid}")


def test_vite_config_and_env_edits(
    server: ApiServer, api: httpx.Client, page_on: Any, files: list[dict[str, Any]]
) -> None:
    sid, page = page_on
    config = next(f["content"] for f in files if f["name"] == CONFIG)
    applied_after_reload(server, sid, page, lambda: push(api, sid, CONFIG, config + "// edit\n"))
    applied_after_reload(server, sid, page, lambda: push(api, sid, ENV, "VITE_GREETING=hi\n"))


def test_a_dependency_change_starts_a_new_dev_server(
    server: ApiServer, api: httpx.Client, page_on: Any, files: list[dict[str, Any]]
) -> None:
    sid, page = page_on
    package = json.loads(next(f["content"] for f in files if f["name"] == PACKAGE))
    package["devDependencies"]["vite"] = "^8.1.0"  # the template's Vite still satisfies it

    def send() -> dict[str, Any]:
        answer = push(api, sid, PACKAGE, json.dumps(package, indent=2))
        assert answer["restarted"] is True, answer
        return answer

    applied_after_reload(server, sid, page, send)


def test_a_full_reload_slower_than_the_ack_timeout_is_still_a_reload(
    tmp_path: Any, browser: Any, files: list[dict[str, Any]]
) -> None:
    """A page that reloads for a change says so, and gets the time a page load takes: its
    acknowledgement is 'reload', not the 'timeout' of an update no page applied."""
    server = ApiServer.start(tmp_path, browser_ack_timeout_seconds=0.2)
    try:
        with server.client() as api:
            sid = create_session(api, files)["sessionId"]
            page = browser.new_page()
            page.goto(f"http://preview-{sid}.localhost:{server.port}/")
            page.wait_for_selector("#title")
            html = next(f["content"] for f in files if f["name"] == "src/frontend/index.html")
            edited = html.replace("</head>", "<meta name='edited' content='1'></head>")

            def send() -> dict[str, Any]:
                return push(api, sid, "src/frontend/index.html", edited)

            applied_after_reload(server, sid, page, send)
            page.close()
            api.delete(f"/kontext/preview/{sid}")
    finally:
        server.stop()
