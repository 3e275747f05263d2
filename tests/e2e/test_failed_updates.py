"""Updates a page cannot apply, in headless Chromium: each is reported (``preview.error`` of
kind ``update`` with the project file and line, the update's ``seq``, and
``browserAck: "error"``), and the update that fixes it shows, with no one reloading the
page (plain Vite leaves the page on the old code until someone does)."""

from typing import Any

import httpx
import pytest

from tests.conftest import create_session, replace_file
from tests.distributed.cluster import SseEvent, read_events
from tests.server import ApiServer

pytestmark = [pytest.mark.browser, pytest.mark.vite]

APP = "src/frontend/src/App.tsx"
HEADER = "src/frontend/src/Header.tsx"
EXTRA = "src/frontend/src/Extra.tsx"


def app_using(import_line: str, shown: str) -> str:
    return (
        'import Header from "./Header";\n'
        f"{import_line}\n"
        "\n"
        "export default function App() {\n"
        f'  return (<main><Header /><p id="extra">{shown}</p></main>);\n'
        "}\n"
    )


def header(text: str, before: str = "") -> str:
    return (
        f'{before}export default function Header() {{\n  return <h1 id="title">{text}</h1>;\n}}\n'
    )


def update(
    api: httpx.Client, sid: str, files: dict[str, str], deleted: tuple[str, ...] = ()
) -> Any:
    response = api.post(
        f"/kontext/preview/{sid}/update",
        json={
            "files": [{"name": n, "content": c} for n, c in files.items()],
            "deletedFiles": list(deleted),
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


def outcome(server: ApiServer, sid: str, answer: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The update's update.applied, and the preview.error of kind update before it (or None)."""

    def applied(event: SseEvent) -> bool:
        return event.type == "update.applied" and event.data["updateId"] == answer["updateId"]

    events = read_events(server.base_url, sid, until=applied, timeout=30)
    assert applied(events[-1]), [(e.type, e.data) for e in events[-5:]]
    errors = [
        e.data
        for e in events
        if e.type == "preview.error"
        and e.data.get("kind") == "update"
        and answer["updateId"] in e.data.get("updateIds", [])
    ]
    return events[-1].data, errors[-1] if errors else None


@pytest.fixture
def page_on(server: ApiServer, api: httpx.Client, browser: Any, files: list[dict[str, Any]]) -> Any:
    files = replace_file(files, EXTRA, 'export const A = "extra A";\n')
    files = replace_file(files, APP, app_using('import { A } from "./Extra";', "{A}"))
    sid = create_session(api, files)["sessionId"]
    page = browser.new_page()
    page.goto(f"http://preview-{sid}.localhost:{server.port}/")
    page.wait_for_selector("#extra")
    assert page.inner_text("#extra") == "extra A"
    yield sid, page
    page.close()
    api.delete(f"/kontext/preview/{sid}")


def shows(page: Any, selector: str, text: str) -> None:
    page.wait_for_function(
        "([s, t]) => document.querySelector(s)?.textContent === t",
        arg=[selector, text],
        timeout=15_000,
    )


def test_a_module_that_throws_when_it_runs(
    server: ApiServer, api: httpx.Client, page_on: Any
) -> None:
    sid, page = page_on
    broken = update(api, sid, {HEADER: header("never", "const boom = notDefinedAnywhere.value;\n")})
    applied, error = outcome(server, sid, broken)
    assert applied["browserAck"] == "error", applied
    assert error is not None, "no preview.error for the failed update"
    assert error["seq"] == broken["seq"] and error["file"] == HEADER, error
    assert "notDefinedAnywhere" in error["message"] and error.get("line") == 1, error

    fixed = update(api, sid, {HEADER: header("fixed header")})
    shows(page, "#title", "fixed header")
    applied, error = outcome(server, sid, fixed)
    assert error is None and applied["browserAck"] in ("update", "reload"), applied


def test_an_import_of_a_name_not_exported_yet(
    server: ApiServer, api: httpx.Client, page_on: Any
) -> None:
    sid, page = page_on
    broken = update(api, sid, {APP: app_using('import { A, B } from "./Extra";', "{A}{B}")})
    applied, error = outcome(server, sid, broken)
    assert applied["browserAck"] == "error", applied
    assert error is not None, "no preview.error for the failed update"
    assert error["seq"] == broken["seq"] and error["file"] == APP, error
    assert "'B'" in error["message"] and error.get("line") == 2, error

    # The fix touches the other module (it gains the export), not the one that failed.
    fixed = update(api, sid, {EXTRA: 'export const A = "a+";\nexport const B = "b";\n'})
    shows(page, "#extra", "a+b")
    applied, error = outcome(server, sid, fixed)
    assert error is None and applied["browserAck"] in ("update", "reload"), applied


def test_a_file_deleted_while_another_imports_it(
    server: ApiServer, api: httpx.Client, page_on: Any
) -> None:
    sid, page = page_on
    broken = update(api, sid, {}, deleted=(EXTRA,))
    applied, error = outcome(server, sid, broken)
    assert applied["browserAck"] == "error", applied
    assert error is not None, "no preview.error for the failed update"
    assert error["seq"] == broken["seq"] and error["file"] == APP, error
    assert "Extra" in error["message"] and error.get("line") == 2, error

    fixed = update(api, sid, {APP: app_using("", "no extra")})
    shows(page, "#extra", "no extra")
    applied, error = outcome(server, sid, fixed)
    assert error is None and applied["browserAck"] in ("update", "reload"), applied


def test_the_pages_console_reaches_the_stream(
    server: ApiServer, api: httpx.Client, page_on: Any
) -> None:
    """Warnings and errors the app logs are preview.console events with the project file and
    line; a message repeated in a row is one event with its count, and a flood is cut to
    a rate (what is left out is counted)."""
    sid, page = page_on
    chatty = header(
        "chatty",
        "for (let i = 0; i < 5; i++) console.warn('low on coffee');\n"
        "console.error('the header is sad', { mood: 2 });\n"
        "for (let i = 0; i < 300; i++) console.warn('flood ' + i);\n",
    )
    update(api, sid, {HEADER: chatty})
    shows(page, "#title", "chatty")

    accounted = [0]  # flood messages sent on, or counted as left out

    def all_accounted_for(event: SseEvent) -> bool:
        if event.type == "preview.console":
            accounted[0] += event.data.get("dropped", 0)
            accounted[0] += event.data["message"].startswith("flood")
        return accounted[0] >= 300

    events = read_events(server.base_url, sid, until=all_accounted_for, timeout=20)
    logged = [e.data for e in events if e.type == "preview.console"]
    [coffee] = [e for e in logged if e["message"] == "low on coffee"]
    assert coffee["count"] == 5 and coffee["level"] == "warn", coffee
    assert coffee["file"] == HEADER and coffee["line"] == 1, coffee
    [sad] = [e for e in logged if e["message"].startswith("the header is sad")]
    assert sad["level"] == "error" and '{"mood":2}' in sad["message"] and sad["line"] == 2, sad
    floods = [e for e in logged if e["message"].startswith("flood")]
    # What was left out is counted in the events that follow a cut (not necessarily the
    # last one: another message may come after the flood's count).
    dropped = sum(e.get("dropped", 0) for e in logged)
    assert len(floods) < 100 and dropped > 0, (len(floods), logged[-3:])
    assert len(floods) + dropped == 300, [e for e in logged if e not in floods][-5:]
