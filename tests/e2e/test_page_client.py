"""The page client (sandbox-images/agent/page/client.js) on its own, in Chromium: no Vite, no
agent. The page is served by Playwright's router (nothing leaves the browser); Vite's HMR
channel is a stand-in (``window.__hot``: what the client registers and sends, and messages
the test hands it as Vite's client would), ``/@vite/client`` a module that records
``updateStyle``. Each test drives the client as Vite and the agent would and checks what it
sends back: the acknowledgements the service's ``update.applied`` rests on."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser]

CLIENT = Path(__file__).parents[2] / "sandbox-images" / "agent" / "page" / "client.js"
ORIGIN = "http://127.0.0.1:1"  # answered by the router: never connected to

HOT = """window.__hot = {
  handlers: {}, sent: [],
  on(event, f) { (this.handlers[event] ??= []).push(f); },
  send(event, data) { this.sent.push([event, data]); },
  emit(event, data) { for (const f of this.handlers[event] ?? []) f(data); },
};"""
PAGE = f"""<!doctype html><html><head>
<script>{HOT}</script>
<script type="module" src="/@kontext/client"></script>
<script type="module" src="/src/main.js"></script>
</head><body></body></html>"""
VITE_CLIENT = "export function updateStyle(id, css) { (window.__styles ??= []).push([id, css]); }"
APP = "document.body.innerHTML = '<h1 id=\"title\">App</h1>';\n"
BROKEN_APP = 'throw new Error("the app broke");\n'


@pytest.fixture
def serve(browser: Any) -> Iterator[Callable[[list[str]], Any]]:
    """A page with the client and an app whose main.js is each of ``apps`` in turn (one
    per load; the last one after that)."""
    pages: list[Any] = []

    def open_page(apps: list[str]) -> Any:
        page = browser.new_page()
        pages.append(page)
        loads = iter(apps)
        last = [apps[-1]]

        def route(route: Any) -> None:
            path = route.request.url.removeprefix(ORIGIN)
            if path == "/@kontext/client":
                body = "import.meta.hot = window.__hot;\n" + CLIENT.read_text()
            elif path == "/@vite/client":
                body = VITE_CLIENT
            elif path == "/src/main.js":
                last[0] = next(loads, last[0])
                body = last[0]
            else:
                route.fulfill(status=200, content_type="text/html", body=PAGE)
                return
            route.fulfill(status=200, content_type="text/javascript", body=body)

        page.route(f"{ORIGIN}/**", route)
        page.goto(f"{ORIGIN}/")
        page.wait_for_function("window.__kontext && window.__kontext.loaded !== null")
        return page

    yield open_page
    for page in pages:
        page.close()


def sent(page: Any, event: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(
        "e => window.__hot.sent.filter(([name]) => name === e).map(([, data]) => data)", event
    )
    return found


def emit(page: Any, event: str, data: Any) -> None:
    page.evaluate("([e, d]) => window.__hot.emit(e, d)", [event, data])


def acks_of(page: Any, seq: Any) -> list[dict[str, Any]]:
    page.wait_for_function(
        "s => window.__hot.sent.some(([n, d]) => n === 'kontext:ack' && d.seq === s)", arg=seq
    )
    page.wait_for_timeout(300)  # anything more it would send
    return [a for a in sent(page, "kontext:ack") if a["seq"] == seq]


def vite_update(page: Any, path: str = "/src/main.js") -> None:
    payload = {"type": "update", "updates": [{"type": "js-update", "path": path}]}
    emit(page, "vite:beforeUpdate", payload)
    emit(page, "vite:afterUpdate", payload)


def test_a_change_is_acknowledged_once_when_it_has_settled(serve: Any) -> None:
    page = serve([APP])
    assert page.evaluate("window.__kontext.loaded") is True
    emit(page, "kontext:update", {"seq": 1, "reload": False, "removed": []})
    vite_update(page)
    vite_update(page, "/src/other.js")  # one change can come as several Vite updates
    [ack] = acks_of(page, 1)
    assert ack["kind"] == "update" and ack["page"] == page.evaluate("window.__kontext.page")
    assert ack["settledMs"] >= 0 and ack.get("error") is None


def test_a_stylesheet_goes_through_vites_update_style_and_is_acknowledged_as_css(
    serve: Any,
) -> None:
    page = serve([APP])
    styles = [{"id": "/src/index.css", "css": "h1 { color: red; }"}]
    emit(page, "kontext:css", {"styles": styles, "seq": 2})
    assert page.evaluate("window.__styles") == [["/src/index.css", "h1 { color: red; }"]]
    [ack] = acks_of(page, 2)
    assert ack["kind"] == "css"


def test_a_change_that_throws_and_leaves_the_page_blank_is_acknowledged_as_an_error(
    serve: Any,
) -> None:
    page = serve([APP])
    emit(page, "kontext:update", {"seq": 3, "reload": False, "removed": []})
    payload = {"type": "update", "updates": [{"type": "js-update", "path": "/src/main.js"}]}
    emit(page, "vite:beforeUpdate", payload)
    page.evaluate(
        "document.body.innerHTML = ''; setTimeout(() => { throw new Error('render failed'); })"
    )
    page.wait_for_timeout(50)
    emit(page, "vite:afterUpdate", payload)
    [ack] = acks_of(page, 3)
    assert ack["kind"] == "error" and "render failed" in ack["error"]["message"], ack
    [error] = sent(page, "kontext:error")
    assert "render failed" in error["message"]


def test_an_update_to_a_page_whose_app_never_loaded_is_a_reload_acknowledged_by_the_next_load(
    serve: Any,
) -> None:
    page = serve([BROKEN_APP, APP])
    assert page.evaluate("window.__kontext.loaded") is False
    emit(page, "kontext:update", {"seq": 4, "reload": False, "removed": []})
    payload = {"type": "update", "updates": [{"type": "js-update", "path": "/src/main.js"}]}
    with page.expect_navigation():  # HMR cannot patch an app that never ran: a fresh load
        emit(page, "vite:beforeUpdate", payload)
    page.wait_for_function("window.__kontext && window.__kontext.loaded === true")
    [ack] = acks_of(page, 4)
    assert ack["kind"] == "reload"
    assert page.inner_text("#title") == "App"


def test_a_full_reload_is_announced_and_acknowledged_by_the_page_that_loads(serve: Any) -> None:
    page = serve([APP])
    emit(page, "kontext:update", {"seq": 5, "reload": False, "removed": []})
    emit(page, "vite:beforeFullReload", {"type": "full-reload", "path": "*"})
    assert sent(page, "kontext:reloading") == [{"seq": 5}]
    assert sent(page, "kontext:ack") == []  # the page that loads acknowledges it
    page.reload()  # as Vite's client does next
    page.wait_for_function("window.__kontext && window.__kontext.loaded === true")
    [ack] = acks_of(page, 5)
    assert ack["kind"] == "reload"


def test_the_apps_console_reaches_the_agent_but_vites_own_messages_do_not(serve: Any) -> None:
    page = serve([APP])
    page.evaluate("console.warn('careful', {n: 1}); console.error('[vite] hmr'); console.log('x')")
    [warning] = sent(page, "kontext:console")
    assert warning["level"] == "warn" and warning["message"] == 'careful {"n":1}'


def test_an_error_a_framework_caught_and_logged_is_reported_once(serve: Any) -> None:
    """An error boundary (React Router's, SvelteKit's) catches a render error and logs it:
    no error event tells of it, the console does. Vite's report of an update it could not
    apply is the update's, not a runtime error."""
    page = serve([APP])
    page.evaluate(
        "const e = new Error('caught by a boundary');"
        "console.error(e); console.error('The above error occurred in <Welcome>', e)"
    )
    page.wait_for_timeout(200)
    assert [e["message"] for e in sent(page, "kontext:error")] == ["caught by a boundary"]
    page.evaluate(
        "console.error(new Error('Failed to fetch dynamically imported module'));"
        "console.error('[hmr] Failed to reload /src/main.js. This could be due to syntax errors"
        " or importing non-existent modules. (see errors above)')"
    )
    page.wait_for_timeout(200)
    assert len(sent(page, "kontext:error")) == 1
