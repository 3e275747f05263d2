"""Replay real public histories through a session: after every commit's update, the
live page shows what a fresh start of the same files shows (issue 18, point 4).

Each step sends what the commit changed (files written, files deleted) to one session
whose page stays open, then starts a second session from the commit's whole tree and
compares the two pages (text, classes and the computed styles a stale stylesheet would
change: tests/previews/test_live_equals_fresh.SNAPSHOT). The projects are AI-built apps
(bolt.new / Claude Code histories) with React 18 on Vite 5 and on Vite 4, Supabase,
a router, a service worker: nothing designed for this product. The browser reaches
nothing but 127.0.0.1 (every other request is aborted).
"""

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import create_session
from tests.previews.test_live_equals_fresh import SNAPSHOT
from tests.replay.history import History, as_request_files
from tests.server import ApiServer

pytestmark = [pytest.mark.browser, pytest.mark.vite, pytest.mark.network]

HISTORIES = [
    # React 18 + Vite 5, Supabase, lucide-react; a PWA service worker; renames a hook.
    History("iboulahifall/vite-react-ojif4gpp", steps=12, skip=("dist/",)),
    # React 18 + Vite 4 + TypeScript, react-router, Sentry, Capacitor (native shells skipped).
    History(
        "pushkarpandey20-sys/vite-react-g6fcjidx", steps=12, skip=("android/", "ios/", "dist/")
    ),
]
OVERLAY = "document.querySelector('vite-error-overlay')"
READY = (
    "document.readyState === 'complete'"
    f" && (document.querySelector('#root *') !== null || {OVERLAY} !== null)"
)
# A step whose files do not compile (a commit can hold pasted chat text) shows Vite's
# error overlay: the live page keeps the last app beneath it, a fresh load a blank one;
# both show the same error, which is what is compared then (paths from the project root).
SHOWN = f"""() => {{
  const overlay = {OVERLAY};
  const message = overlay?.shadowRoot?.querySelector('.message')?.textContent;
  if (overlay) return 'error: ' + message?.replace(/\\S*\\/workspace\\//g, '');
  return ({SNAPSHOT})();
}}"""


def local_only(route: Any) -> None:
    host = urlsplit(route.request.url).hostname or ""
    if host == "localhost" or host.endswith(".localhost") or host.startswith("127."):
        route.continue_()
    else:
        route.abort()


def open_page(browser: Any, url: str) -> tuple[Any, Any]:
    context = browser.new_context()
    context.route("**/*", local_only)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)[:300]))
    page.on("console", lambda m: errors.append(m.text[:300]) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(url)
    try:
        page.wait_for_function(READY, timeout=60_000)
    except Exception:
        body = page.evaluate("document.body?.innerText ?? ''")[:500]
        for failed in [e.split(" ", 1)[1] for e in errors if e[:1] == "5"][:2]:
            errors.append(page.evaluate("(u) => fetch(u).then((r) => r.text())", failed)[:800])
        raise AssertionError(f"{url} shows no app: {body!r}; errors: {errors}") from None
    page.wait_for_load_state("networkidle")
    return context, page


def fresh_start(api: httpx.Client, browser: Any, files: dict[str, bytes]) -> str:
    """What a new session of ``files`` shows in a new browser context."""
    session = create_session(api, as_request_files(files))
    context, page = open_page(browser, session["previewUrl"])
    shown: str = page.evaluate(SHOWN)
    context.close()
    api.delete(f"/kontext/preview/{session['sessionId']}")
    return shown


@pytest.mark.parametrize("history", HISTORIES, ids=lambda h: h.repo.split("/")[0])
def test_every_step_of_a_public_history_shows_what_a_fresh_start_shows(
    server: ApiServer, api: httpx.Client, browser: Any, history: History
) -> None:
    if not history.git_dir.exists():
        pytest.skip(f"{history.repo} is not at {history.git_dir} (the library's fetch brings it)")
    steps = list(history.steps_of())
    session = create_session(api, as_request_files(steps[0][1]))
    sid = session["sessionId"]
    context, page = open_page(browser, session["previewUrl"])
    mismatches = []
    for commit, before, after in steps:
        written = {n: c for n, c in after.items() if before.get(n) != c}
        body = {
            "files": as_request_files(written),
            "deletedFiles": sorted(n for n in before if n not in after),
        }
        response = api.post(f"/kontext/preview/{sid}/update", params={"wait": "true"}, json=body)
        assert response.status_code == 200, f"{commit}: {response.text}"
        expected = fresh_start(api, browser, after)
        try:
            page.wait_for_function(f"({SHOWN})() === {expected!r}", timeout=20_000)
        except Exception:
            live = page.evaluate(SHOWN)
            mismatches.append((commit[:10], sorted(written), _first_difference(live, expected)))
    context.close()
    api.delete(f"/kontext/preview/{sid}")
    assert mismatches == [], f"{len(mismatches)} of {len(steps)} steps differ from a fresh start"


def _first_difference(live: str, fresh: str) -> str:
    for number, (a, b) in enumerate(zip(live.splitlines(), fresh.splitlines(), strict=False)):
        if a != b:
            return f"element {number}: live {a!r} / fresh {b!r}"
    return f"live has {len(live.splitlines())} elements, fresh {len(fresh.splitlines())}"
