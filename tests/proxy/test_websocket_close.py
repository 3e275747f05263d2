"""Closing or reloading a preview tab is normal: the proxy's WebSocket bridge ends quietly
(nothing logged above debug, no traceback), and the dev server's socket is let go."""

from typing import Any

import httpx
import pytest

from tests.conftest import create_session
from tests.server import ApiServer, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.vite]
NOISE = ("Traceback", "Exception in ASGI application", "ERROR")


def test_closing_and_reloading_a_preview_tab_logs_no_error(
    server: ApiServer, api: httpx.Client, browser: Any, files: list[dict[str, Any]]
) -> None:
    session = create_session(api, files)
    sid = session["sessionId"]
    before = len(server.output)
    for _ in range(3):
        page = browser.new_page()
        page.goto(session["previewUrl"])
        page.wait_for_selector("#title")
        # The HMR socket is open (Vite's client says so in the console) before the tab goes.
        page.wait_for_function("window.__kontext !== undefined")
        page.reload()
        page.wait_for_selector("#title")
        page.close()
    api.delete(f"/kontext/preview/{sid}")
    # The bridge's end runs after the tab has gone: give it a moment, then read the log.
    assert not wait_for(
        lambda: any(n in line for line in server.output[before:] for n in NOISE), timeout=3
    ), "".join(server.output[before:])[-3000:]
