"""The open page shows what a fresh load shows, whatever happened to the dev server or the
app (issue 29), and ``update.applied`` says what the page did. One test per kind of
divergence seen replaying AI-built histories, each on a page opened once and never reloaded
by the test:

1. a dev-server restart (new dependencies) on Vite 5, whose client ignores a clean close
   of its socket: the page follows the new dev server, and later updates reach it;
2. an app that never loaded (a module failed to link at load): the update that fixes it
   reloads the page, and is not acknowledged ``update`` while the page is blank;
3. dependencies Vite re-bundles (a package imported for the first time): the page shows it
   and says how it got there;
4. a compile error, then its fix: hot-updated, the page's state kept (plain Vite's way);
5. an imported module emptied: a ``preview.error`` names it; a file deleted and another
   added in its place: no error about the deleted one (nothing imports it);
6. a start that fails, with the page open on it: the page follows the failure's reason as a
   fresh load shows it.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.conftest import create_session, replace_file
from tests.distributed.cluster import SseEvent, read_events
from tests.project import project_files
from tests.server import ApiServer

pytestmark = [pytest.mark.browser, pytest.mark.vite]

APP = "src/frontend/src/App.tsx"
HEADER = "src/frontend/src/Header.tsx"
LIB = "src/frontend/src/lib.ts"
HTML = "src/frontend/index.html"


def update(api: httpx.Client, sid: str, files: dict[str, str]) -> dict[str, Any]:
    response = api.post(
        f"/kontext/preview/{sid}/update",
        json={"files": [{"name": n, "content": c} for n, c in files.items()]},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def events_until_applied(
    server: ApiServer, sid: str, answer: dict[str, Any], timeout: float = 60
) -> list[SseEvent]:
    """The session's events up to the update's update.applied (which must come)."""

    def applied(event: SseEvent) -> bool:
        return event.type == "update.applied" and event.data["updateId"] == answer["updateId"]

    events = read_events(server.base_url, sid, until=applied, timeout=timeout)
    assert events and applied(events[-1]), [(e.type, e.data) for e in events[-5:]]
    return events


def applied_of(server: ApiServer, sid: str, answer: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = events_until_applied(server, sid, answer)[-1].data
    return data


@contextmanager
def opened(
    api: httpx.Client, browser: Any, files: list[dict[str, Any]], selector: str
) -> Iterator[tuple[str, Any]]:
    """A session of ``files`` and its page, opened once (``window.__openedOnce`` is gone
    if it reloads); both closed afterwards."""
    created = create_session(api, files)
    page = browser.new_page()
    try:
        page.goto(created["previewUrl"])
        page.wait_for_selector(selector)
        page.evaluate("window.__openedOnce = true")
        yield created["sessionId"], page
    finally:
        page.close()
        api.delete(f"/kontext/preview/{created['sessionId']}")


def shows(page: Any, selector: str, text: str, timeout: float = 20_000) -> None:
    page.wait_for_function(
        "([s, t]) => document.querySelector(s)?.textContent?.includes(t)",
        arg=[selector, text],
        timeout=timeout,
    )


def shown(
    server: ApiServer, page: Any, sid: str, answer: dict[str, Any], selector: str, text: str
) -> dict[str, Any]:
    """The update's update.applied, once the page shows ``text`` in ``selector``."""
    shows(page, selector, text)
    return applied_of(server, sid, answer)


def test_a_restart_on_vite_5_is_followed_and_later_updates_reach_the_page(
    server: ApiServer, api: httpx.Client, browser: Any
) -> None:
    files = project_files("ai-stack-app")  # React 18, Vite 5.4, shadcn (a prepared stack)
    with opened(api, browser, files, "#title") as (sid, page):
        package = json.loads(next(f["content"] for f in files if f["name"] == "package.json"))
        package["dependencies"]["clsx"] = "^2.1.0"  # still the stack's: nothing to download
        restarted = update(api, sid, {"package.json": json.dumps(package, indent=2)})
        assert restarted["restarted"] is True, restarted
        applied = applied_of(server, sid, restarted)
        assert applied["browserAck"] == "reload" and applied["pages"] == 1, applied
        page.wait_for_selector("#title")

        index = next(f["content"] for f in files if f["name"] == "src/pages/Index.tsx")
        edited = update(api, sid, {"src/pages/Index.tsx": index.replace("Plant Tracker", "Herbs")})
        applied = shown(server, page, sid, edited, "#title", "Herbs")
        assert applied["browserAck"] == "update" and applied["pages"] == 1, applied


def test_the_fix_of_an_app_that_never_loaded_reloads_it(
    server: ApiServer, api: httpx.Client, browser: Any, files: list[dict[str, Any]]
) -> None:
    files = replace_file(files, LIB, 'export const greeting = "hello";\n')
    app = (
        'import Header from "./Header";\nimport { greeting } from "./lib";\n\n'
        'export default function App() {\n  return <main><Header /><p id="greeting">'
        "{greeting}</p></main>;\n}\n"
    )
    files = replace_file(files, APP, app)
    with opened(api, browser, files, "#greeting") as (sid, page):
        # App.tsx asks lib.ts for a name it does not export yet; the HTML changes too, so the
        # page loads again (as when a builder rewrites many files at once) and its app fails
        # to link: a blank page.
        html = next(f["content"] for f in files if f["name"] == HTML)
        broken = update(
            api,
            sid,
            {
                APP: app.replace("{ greeting }", "{ greeting, farewell }").replace(
                    "{greeting}", "{greeting} {farewell}"
                ),
                HTML: html.replace("</head>", '<meta name="x" content="1"></head>'),
            },
        )
        applied = applied_of(server, sid, broken)
        assert applied["browserAck"] == "error", applied
        # The page loaded again (for the HTML) and its app did not load: blank.
        page.wait_for_function("window.__kontext?.loaded === false && !window.__openedOnce")
        assert page.evaluate("document.querySelector('#root').textContent") == ""

        fixed = update(
            api, sid, {LIB: 'export const greeting = "hello";\nexport const farewell = "bye";\n'}
        )
        applied = shown(server, page, sid, fixed, "#greeting", "hello bye")
        assert applied["browserAck"] == "reload" and applied["pages"] == 1, applied


def test_the_fix_of_a_compile_error_hot_updates_and_keeps_state(
    server: ApiServer, api: httpx.Client, browser: Any, files: list[dict[str, Any]]
) -> None:
    with opened(api, browser, files, "#counter") as (sid, page):
        page.click("#counter")
        page.click("#counter")
        shows(page, "#counter", "count is 2")
        header = next(f["content"] for f in files if f["name"] == HEADER)
        broken = update(api, sid, {HEADER: header.replace("</h1>", "</h1")})
        assert applied_of(server, sid, broken)["browserAck"] == "error"
        fixed = update(api, sid, {HEADER: header.replace("Hello", "Fixed")})
        applied = shown(server, page, sid, fixed, "h1", "Fixed")
        assert applied["browserAck"] == "update", applied
        assert page.evaluate("window.__openedOnce") is True, "the page reloaded"
        assert "count is 2" in page.inner_text("#counter"), "the app's state was lost"


def test_an_imported_module_emptied_is_an_error_the_chat_hears_of(
    server: ApiServer, api: httpx.Client, browser: Any, files: list[dict[str, Any]]
) -> None:
    with opened(api, browser, files, "#counter") as (sid, _page):
        emptied = update(api, sid, {HEADER: "\n"})
        events = events_until_applied(server, sid, emptied)
        errors = [e.data for e in events if e.type == "preview.error"]
        assert events[-1].data["browserAck"] == "error", events[-1].data
        assert any("Header" in (e.get("message", "") + e.get("file", "")) for e in errors), errors


def test_dependencies_vite_bundles_anew_reach_the_page(
    server: ApiServer, api: httpx.Client, browser: Any
) -> None:
    """A package imported for the first time makes Vite pre-bundle the dependencies again
    (chunks shared with the ones the page has change: Vite reloads it). The page ends up
    showing it, and says whether it reloaded."""
    files = project_files("ai-stack-app")
    index = next(f["content"] for f in files if f["name"] == "src/pages/Index.tsx")
    with opened(api, browser, files, "#title") as (sid, page):
        popover = index.replace(
            'import { Link } from "react-router-dom";',
            'import { Link } from "react-router-dom";\n'
            'import * as Popover from "@radix-ui/react-popover";',
        ).replace(
            '<p className="mt-2">Water your plants on time.</p>',
            '<Popover.Root><Popover.Trigger id="tip">Tip</Popover.Trigger></Popover.Root>',
        )
        answer = update(api, sid, {"src/pages/Index.tsx": popover})
        applied = shown(server, page, sid, answer, "#tip", "Tip")
        reloaded = page.evaluate("window.__openedOnce") is None
        assert applied["browserAck"] == ("reload" if reloaded else "update"), applied
        assert applied["pages"] == 1, applied
        # What the test is about did happen: Vite bundled the dependencies anew.
        logs = "\n".join(api.get(f"/kontext/preview/{sid}").json()["logs"])
        assert "new dependencies optimized: @radix-ui/react-popover" in logs, logs[-2000:]


def test_a_file_replaced_by_another_leaves_no_error_behind(
    server: ApiServer, api: httpx.Client, browser: Any, files: list[dict[str, Any]]
) -> None:
    """Header.tsx deleted, Title.tsx added, App.tsx importing the new one: Vite sends the
    pages an update of the deleted module too, which cannot be fetched; nothing imports it
    any more, so that is no error."""
    app = next(f["content"] for f in files if f["name"] == APP)
    header = next(f["content"] for f in files if f["name"] == HEADER)
    with opened(api, browser, files, "#title") as (sid, page):
        response = api.post(
            f"/kontext/preview/{sid}/update",
            json={
                "files": [
                    {
                        "name": HEADER.replace("Header", "Title"),
                        "content": header.replace("Hello", "Hi"),
                    },
                    {"name": APP, "content": app.replace("Header", "Title")},
                ],
                "deletedFiles": [HEADER],
            },
        )
        assert response.status_code == 200, response.text
        events = events_until_applied(server, sid, response.json())
        shows(page, "#title", "Hi from Kontext")
        errors = [e.data for e in events if e.type == "preview.error"]
        assert errors == [] and events[-1].data["browserAck"] == "update", (errors, events[-1])


def test_a_page_on_a_failed_start_follows_its_reason(
    server: ApiServer, api: httpx.Client, browser: Any, files: list[dict[str, Any]]
) -> None:
    """A project whose vite.config throws: the page shows why (a deployment is tried too and
    fails the same way); an update changes the reason, and the open page shows the new
    one, as a fresh load does."""
    config = "src/frontend/vite.config.ts"
    broken = replace_file(files, config, 'throw new Error("first reason");\n')
    created = create_session(api, broken)
    sid = created["sessionId"]
    page = browser.new_page()
    try:
        page.goto(created["previewUrl"])
        page.wait_for_selector("[data-kontext-page]")
        shows(page, "main", "first reason")
        update(api, sid, {config: 'throw new Error("second reason");\n'})
        shows(page, "main", "second reason", timeout=30_000)
        fresh = browser.new_page()
        fresh.goto(created["previewUrl"])
        kind = "document.querySelector('[data-kontext-page]').dataset.kontextPage"
        assert fresh.evaluate(kind) == page.evaluate(kind)
        assert "second reason" in fresh.inner_text("main")
        fresh.close()
    finally:
        page.close()
        api.delete(f"/kontext/preview/{sid}")
