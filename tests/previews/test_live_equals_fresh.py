"""Live equals fresh (issue 18, point 4): after an update the preview shows what a fresh
load of the same files shows, also where Vite's own handling keeps stale state: import
resolution after a rename, a CSS module that ``composes`` from an edited file, a
``public/`` file the app fetches at runtime, an app's own cache-first service worker."""

from typing import Any

import httpx
import pytest

from tests.conftest import create_session
from tests.server import ApiServer

pytestmark = [pytest.mark.browser, pytest.mark.vite]

FRONTEND = "src/frontend/"
APP = FRONTEND + "src/App.tsx"
# What a page shows: its text and, per element, the computed styles a stale stylesheet
# would change. Two pages showing the same files give the same value.
SNAPSHOT = """() => [...document.querySelectorAll('#root *')].map((e) => {
  const s = getComputedStyle(e);
  return [e.tagName, e.id, e.className, e.childElementCount ? '' : e.textContent,
          s.color, s.backgroundColor, s.fontWeight, s.textDecorationLine].join('|');
}).join('\\n')"""


def snapshot(page: Any) -> str:
    value: str = page.evaluate(SNAPSHOT)
    return value


def fresh_snapshot(browser: Any, url: str, ready: str) -> str:
    """What a new browser context (no cache, no service worker) shows for ``url`` once
    ``ready`` (a JS condition) holds."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    page.wait_for_function(ready)
    page.wait_for_load_state("networkidle")
    value = snapshot(page)
    context.close()
    return value


def settled_like(page: Any, expected: str) -> None:
    """Wait until the live page shows ``expected`` (an update lands asynchronously)."""
    page.wait_for_function(f"() => ({SNAPSHOT})() === {expected!r}", timeout=15_000)


def update(api: httpx.Client, sid: str, files: dict[str, str], deleted: list[str] = ()) -> Any:
    body = {
        "files": [{"name": n, "content": c} for n, c in files.items()],
        "deletedFiles": list(deleted),
    }
    response = api.post(f"/kontext/preview/{sid}/update", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def project(files: list[dict[str, Any]], extra: dict[str, str]) -> list[dict[str, Any]]:
    names = set(extra)
    return [*(f for f in files if f["name"] not in names), *extra_items(extra)]


def live_equals_fresh_after(
    api: httpx.Client,
    browser: Any,
    files: list[dict[str, Any]],
    ready: str,
    changed: dict[str, str],
    deleted: tuple[str, ...] = (),
) -> str:
    """Open a session of ``files`` in a page (``ready``: a condition that it shows the
    app), apply the update, and wait until the live page shows what a fresh load of the
    updated files shows; that snapshot."""
    session = create_session(api, files)
    sid, url = session["sessionId"], session["previewUrl"]
    page = browser.new_page()
    page.goto(url)
    page.wait_for_function(ready)
    update(api, sid, changed, list(deleted))
    expected = fresh_snapshot(browser, url, ready)
    settled_like(page, expected)
    page.close()
    api.delete(f"/kontext/preview/{sid}")
    return expected


def extra_items(extra: dict[str, str]) -> list[dict[str, Any]]:
    return [{"name": n, "content": c} for n, c in extra.items()]


def test_a_rename_under_an_extensionless_import_shows_what_a_fresh_load_shows(
    server: ApiServer, api: httpx.Client, browser: Any, files: list[dict[str, Any]]
) -> None:
    """``App.tsx`` imports ``./pages/About`` (no extension); the update moves
    ``pages/About.tsx`` to ``pages/About.jsx`` (edited): Vite's importer keeps the old
    resolved URL (a 404) unless its transform is dropped."""
    app = (
        'import About from "./pages/About";\n'
        'export default function App() { return <main id="app"><About /></main>; }\n'
    )
    about = 'export default function About() { return <h1 id="title">About (tsx)</h1>; }\n'
    files = project(files, {APP: app, FRONTEND + "src/pages/About.tsx": about})
    moved = {FRONTEND + "src/pages/About.jsx": about.replace("(tsx)", "(jsx)")}
    ready = "document.querySelector('#title') !== null"
    deleted = (FRONTEND + "src/pages/About.tsx",)
    assert "About (jsx)" in live_equals_fresh_after(api, browser, files, ready, moved, deleted)


def test_a_css_module_composing_from_an_edited_file_shows_the_new_rule(
    server: ApiServer, api: httpx.Client, browser: Any, files: list[dict[str, Any]]
) -> None:
    """``Title.module.css`` composes ``.base`` from ``base.module.css``; Vite does not
    record that dependency, so an edit of ``base.module.css`` left the old rule (even
    after a reload: the composing module's transform was cached)."""
    app = (
        'import styles from "./Title.module.css";\n'
        "export default function App() {\n"
        '  return <h1 id="composed" className={styles.title}>Composed</h1>;\n}\n'
    )
    title = '.title {\n  composes: base from "./base.module.css";\n  font-weight: 700;\n}\n'
    base = ".base {\n  color: rgb(255, 0, 0);\n}\n"
    files = project(
        files,
        {
            APP: app,
            FRONTEND + "src/Title.module.css": title,
            FRONTEND + "src/base.module.css": base,
        },
    )
    edit = {FRONTEND + "src/base.module.css": base.replace("255, 0, 0", "0, 0, 255")}
    ready = "document.querySelector('#composed') !== null"
    assert "rgb(0, 0, 255)" in live_equals_fresh_after(api, browser, files, ready, edit)


def test_a_public_file_the_app_fetches_reaches_the_page(
    server: ApiServer, api: httpx.Client, browser: Any, files: list[dict[str, Any]]
) -> None:
    """The app fetches ``/greeting.json`` from ``public/`` at runtime: no module imports
    it, so Vite's HMR has nothing to update; the page must show the new data."""
    app = (
        'import { useEffect, useState } from "react";\n'
        "export default function App() {\n"
        '  const [text, setText] = useState("");\n'
        "  useEffect(() => {\n"
        '    fetch("/greeting.json").then((r) => r.json()).then((d) => setText(d.text));\n'
        "  }, []);\n"
        '  return <h1 id="title">{text}</h1>;\n}\n'
    )
    greeting = FRONTEND + "public/greeting.json"
    files = project(files, {APP: app, greeting: '{"text": "Hello"}\n'})
    ready = "document.querySelector('#title')?.textContent !== ''"
    edit = {greeting: '{"text": "Goodbye"}\n'}
    assert "Goodbye" in live_equals_fresh_after(api, browser, files, ready, edit)


SERVICE_WORKER = """const CACHE = "app-v1";
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("fetch", (event) => {
  if (event.request.method !== "GET") return;
  event.respondWith(caches.open(CACHE).then(async (cache) => {
    const hit = await cache.match(event.request);
    if (hit) return hit;
    const response = await fetch(event.request);
    if (response.ok) cache.put(event.request, response.clone());
    return response;
  }));
});
"""


def test_an_apps_cache_first_service_worker_does_not_serve_stale_modules(
    server: ApiServer, api: httpx.Client, browser: Any, files: list[dict[str, Any]]
) -> None:
    """The app registers a cache-first service worker (as PWA templates do): on the
    preview origin it would serve the modules of the first load to every later one, so
    a reload after an update showed the old version. The page still registers one (its
    code runs as written) and every reload shows what a fresh load shows."""
    main = FRONTEND + "src/main.tsx"
    original = next(f["content"] for f in files if f["name"] == main)
    registering = original + '\nnavigator.serviceWorker?.register("/sw.js");\n'
    app = 'export default function App() { return <h1 id="title">Version 1</h1>; }\n'
    files = project(files, {main: registering, APP: app, FRONTEND + "public/sw.js": SERVICE_WORKER})
    session = create_session(api, files)
    sid, url = session["sessionId"], session["previewUrl"]
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#title")
    page.wait_for_function("navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # now under the worker's control, if it is the app's
    page.wait_for_selector("#title")
    update(api, sid, {APP: app.replace("Version 1", "Version 2")})
    page.reload()
    page.wait_for_selector("#title")
    expected = fresh_snapshot(browser, url, "document.querySelector('#title') !== null")
    assert "Version 2" in expected
    assert snapshot(page) == expected
    context.close()
    api.delete(f"/kontext/preview/{sid}")
