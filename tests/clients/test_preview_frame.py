"""<PreviewFrame> (clients/typescript/src/react.tsx) in Chromium, inside a chat's page on
another origin than the API that holds only a browser token: each state shown as a
session goes through it (an install, a failure, a fix, an update, an expiry and restore),
and what it hands the chat (onApplied, onError)."""

import functools
import http.server
import shutil
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.clients.test_typescript import CLIENT, npx
from tests.conftest import push
from tests.project import project_files
from tests.server import ALICE_KEY, ApiServer

pytestmark = [pytest.mark.vite, pytest.mark.browser, pytest.mark.network]
BROKEN_CONFIG = 'throw new Error("this vite.config is broken on purpose");\n'
FIXED_CONFIG = "export default {};\n"


def host_page(folder: Path) -> Path:
    """The test's chat page, bundled (esbuild) with the component and React."""
    folder.mkdir()
    shutil.copy(CLIENT / "test" / "host" / "index.html", folder / "index.html")
    npx(
        "esbuild",
        "test/host/host.tsx",
        "--bundle",
        "--format=esm",
        "--jsx=automatic",
        '--define:process.env.NODE_ENV="production"',
        f"--outfile={folder / 'host.js'}",
        "--log-level=warning",
    )
    return folder


def serve_folder(folder: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


def phase(page: Any, name: str, timeout: float = 120) -> None:
    page.wait_for_selector(f"section[data-phase='{name}']", timeout=timeout * 1000)


def test_the_preview_frame_shows_each_state_with_a_token_never_a_key(
    tmp_path: Path, browser: Any
) -> None:
    static, host_port = serve_folder(host_page(tmp_path / "host"))
    origin = f"http://127.0.0.1:{host_port}"
    server = ApiServer.start(
        tmp_path / "data", cors_origins=[origin], session_ttl_seconds=30, reap_interval_seconds=0.5
    )
    context = browser.new_context()
    try:
        with server.client() as api:  # the chat's backend, with the key
            files = project_files("local-dep-app")  # a dependency the template lacks
            created = api.post("/kontext/preview", json={"files": files}).json()
            sid = created["sessionId"]
            token = api.post("/kontext/tokens", json={"sessionId": sid}).json()["token"]
            page = context.new_page()
            sent: list[str] = []
            page.on("request", lambda r: sent.append(r.url + repr(r.headers)))
            page.goto(f"{origin}/?api={server.base_url}&session={sid}&token={token}")

            # Installing, with the install's lines as progress; then the app.
            phase(page, "installing")
            page.wait_for_function(
                "document.querySelector('[data-part=install]')?.textContent.includes('npm')"
            )
            phase(page, "active")
            frame = page.frame_locator("iframe[title='The app']")
            frame.locator("#greeting").wait_for(timeout=60_000)
            assert page.get_by_role("status").count() == 1

            # An update: its status, and onApplied. (The app reloads for it; in this iframe
            # on another site the page's storage is blocked, and the reload is still
            # acknowledged.)
            edited = files_named(files, "main.jsx").replace("{greeting}", "{greeting} (edited)")
            push(api, sid, "main.jsx", edited)
            page.wait_for_selector("[data-part=update][data-update-status=applied]", timeout=60_000)
            frame.get_by_text("(edited)").wait_for(timeout=30_000)
            (applied,) = page.evaluate("window.chat.applied")
            assert applied["browserAck"] == "reload", applied  # not the ack timeout's

            # A failure, with its reason, handed to the chat; then the fix.
            push(api, sid, "vite.config.js", BROKEN_CONFIG)
            phase(page, "failed")
            assert "broken on purpose" in page.get_by_role("alert").inner_text()
            errors = page.evaluate("window.chat.errors")
            assert any(
                e["kind"] == "session" and "broken on purpose" in e["message"] for e in errors
            )
            push(api, sid, "vite.config.js", FIXED_CONFIG)
            phase(page, "active")
            frame.locator("#greeting").wait_for(timeout=60_000)

            # Expiry, and the restore the chat's backend does when asked.
            phase(page, "expired", timeout=120)
            restore = page.get_by_role("button", name="Restore the preview")
            restore.focus()
            page.keyboard.press("Enter")
            page.wait_for_function("window.chat.restoreAsked === 1")
            restored = api.post(
                "/kontext/preview", params={"wait": "true"}, json={"files": files, "sessionId": sid}
            )
            assert restored.status_code == 200, restored.text
            page.evaluate("window.chat.restored()")
            phase(page, "active")
            frame.locator("#greeting").wait_for(timeout=60_000)

            # The browser had the token, never the key.
            assert sent and not any(ALICE_KEY in request for request in sent)
            assert any(token in request for request in sent)
            api.delete(f"/kontext/preview/{sid}")
    finally:
        context.close()
        server.stop()
        static.shutdown()


def files_named(files: list[dict[str, Any]], name: str) -> str:
    content: str = next(f["content"] for f in files if f["name"] == name)
    return content
