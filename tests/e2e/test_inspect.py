"""The service's own look at a preview (POST /kontext/preview/{id}/inspect), in the
service's headless Chromium: the picture, the console, the errors; and the look after an
update that makes a broken update's errors reach the stream when no page is open."""

from pathlib import Path
from typing import Any

import httpx
import pytest

from kontext_preview.client import ApiError, KontextClient
from kontext_preview.workspace.schemas import ProjectFile
from tests.conftest import create_session, push, replace_file
from tests.distributed.cluster import read_events
from tests.server import BOB_KEY, ApiServer, auth

pytestmark = [pytest.mark.browser, pytest.mark.vite]

CSS = "src/frontend/src/index.css"
HEADER = "src/frontend/src/Header.tsx"
LOUD_HEADER = """console.error("the header is unhappy");
setTimeout(() => { throw new Error("late boom"); }, 0);
export default function Header() {
  return <h1 id="title">Looked at</h1>;
}
"""


def pixel(browser: Any, png_base64: str, x: int, y: int) -> list[int]:
    """The RGBA of one pixel of a PNG, decoded by Chromium (a canvas)."""
    page = browser.new_page()
    try:
        return list(
            page.evaluate(
                """async ([src, x, y]) => {
                  const img = new Image(); img.src = src; await img.decode();
                  const canvas = document.createElement("canvas");
                  canvas.width = img.width; canvas.height = img.height;
                  const g = canvas.getContext("2d"); g.drawImage(img, 0, 0);
                  return Array.from(g.getImageData(x, y, 1, 1).data);
                }""",
                ["data:image/png;base64," + png_base64, x, y],
            )
        )
    finally:
        page.close()


def test_a_look_shows_what_a_person_would_see(
    server: ApiServer, browser: Any, files: list[dict[str, Any]]
) -> None:
    files = replace_file(
        files, CSS, "html, body { margin: 0; min-height: 100%; background: #ff0080; }\n"
    )
    files = replace_file(files, HEADER, LOUD_HEADER)
    with KontextClient(server.base_url, auth()["authorization"].split()[-1]) as client:
        sid = client.create([ProjectFile.model_validate(f) for f in files]).sessionId
        look = client.inspect(sid, width=640, height=400)
        assert look.status == 200 and look.title == "Kontext demo", look.title
        assert "Looked at" in look.text, look.text
        assert (look.width, look.height) == (640, 400)
        assert look.screenshot is not None
        assert pixel(browser, look.screenshot, 5, 395) == [255, 0, 128, 255]
        [unhappy] = [m for m in look.console if "the header is unhappy" in m.text]
        assert unhappy.level == "error" and unhappy.file == HEADER, unhappy
        assert any("late boom" in e.message for e in look.errors), look.errors
        assert look.timings["loadMs"] > 0 and look.timings["totalMs"] >= look.timings["loadMs"]

        tall = client.inspect(sid, width=640, height=400, fullPage=True, screenshot=True)
        assert tall.width == 640 and tall.height >= 400

        with pytest.raises(ApiError) as unknown:
            client.inspect("nosuchsession")
        assert unknown.value.status_code == 404
        client.delete(sid)


def test_a_broken_update_reaches_the_stream_with_no_page_open(
    tmp_path: Path, files: list[dict[str, Any]]
) -> None:
    """Nobody has the preview open: without a look, Vite never compiles the broken file
    and the chat hears nothing."""
    server = ApiServer.start(tmp_path, inspect_after_update=True)
    try:
        with server.client() as api:
            sid = create_session(api, files)["sessionId"]
            push(api, sid, HEADER, "export default function Header() {\n  return <h1>;\n}\n")
            events = read_events(
                server.base_url, sid, until=lambda e: e.type == "preview.error", timeout=30
            )
            error = events[-1].data
            assert events[-1].type == "preview.error", [e.type for e in events]
            assert error["kind"] == "compile" and error["file"] == HEADER, error
            api.delete(f"/kontext/preview/{sid}")
    finally:
        server.stop()


def test_looks_are_the_owners(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    sid = create_session(api, files)["sessionId"]
    other = httpx.post(
        f"{server.base_url}/kontext/preview/{sid}/inspect",
        headers=auth(BOB_KEY),
        json={},
        trust_env=False,
    )
    assert other.status_code == 404, other.text
    api.delete(f"/kontext/preview/{sid}")
