"""The playground at /, driven in Chromium: choose a sample, start it, edit, send, and see the
preview, the event log and the latency chart change. A screenshot goes to test-results/."""

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server import ALICE_KEY, ApiServer

pytestmark = [pytest.mark.browser, pytest.mark.vite]
ARTIFACTS = Path(__file__).parent.parent / "test-results"
EDITED = (
    'export default function App() {\n  return <h1 id="title">Edited in the playground</h1>;\n}\n'
)


def test_a_sample_edited_and_sent_updates_the_preview(server: ApiServer, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1500, "height": 850})
    tokens: list[str] = []
    page.on("request", lambda r: "/kontext/tokens" in r.url and tokens.append(r.url))
    page.goto(f"{server.base_url}/#key={ALICE_KEY}")
    options = page.locator("#sample option")
    options.first.wait_for(state="attached")
    assert options.all_inner_texts() == [
        "React + Vite app",
        "Motoko + React app (Internet Computer)",
    ]
    assert "#key" not in page.url, "the key leaves the address bar"
    page.locator("#filename", has_text="src/frontend/src/App.tsx").wait_for()

    page.click("#start")
    page.locator("#status", has_text="active").wait_for(timeout=60_000)
    preview = page.frame_locator("#preview iframe")
    preview.locator("#title", has_text="Hello from the playground").wait_for()
    # The pane is the client's <PreviewFrame>, following the session with a browser token.
    page.locator("#preview section[data-phase='active']").wait_for()

    page.click(".cm-content")
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(EDITED)
    assert page.locator("#files li.edited").inner_text() == "src/frontend/src/App.tsx"
    page.click("#send")
    preview.locator("#title", has_text="Edited in the playground").wait_for()
    page.locator("#log li[data-type='update.applied']").first.wait_for()
    page.locator("#preview [data-update-status='applied']").wait_for()
    assert int(page.locator("#chart").get_attribute("data-points") or 0) >= 1
    assert page.locator("#files li.edited").count() == 0, "sent: nothing left to send"
    assert tokens, "the preview pane asked for a browser token"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "playground.png"))

    # Another sample ends this session and loads its own files.
    page.select_option("#sample", "icp-motoko")
    page.locator("#files li", has_text="src/backend/main.mo").wait_for()
    page.close()


def test_without_a_key_the_page_says_why(server: ApiServer, browser: Any) -> None:
    page = browser.new_page()
    page.goto(server.base_url + "/")
    page.locator("#files li").first.wait_for()
    page.click("#start")
    page.locator("#status", has_text="missing API key").wait_for()
    page.close()


def test_the_page_and_the_samples(server: ApiServer, api: httpx.Client) -> None:
    page = httpx.get(server.base_url + "/", trust_env=False)
    assert page.status_code == 200 and "<title>kontext-preview playground</title>" in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-src http://*.localhost:*" in policy
    listing = httpx.get(server.base_url + "/playground/samples", trust_env=False).json()
    names = [s["name"] for s in listing["samples"]]
    assert names == ["react-vite", "icp-motoko"]
    files = httpx.get(server.base_url + "/playground/samples/icp-motoko", trust_env=False).json()
    session = api.post("/kontext/preview", params={"wait": "true"}, json=files).json()
    assert session["status"] == "active" and session["viteRoot"] == "src/frontend"
    api.delete(f"/kontext/preview/{session['sessionId']}")
    missing = httpx.get(server.base_url + "/playground/samples/../../etc", trust_env=False)
    assert missing.status_code == 404
