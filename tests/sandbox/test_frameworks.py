"""The frameworks the agent runs (issue 33), as their CLIs or docs write them, on every
backend: created, first paint in Chromium, a component edit hot-updated in the open page
(state kept), a stylesheet injected, a package added, and a fresh load showing what the
open page shows. (The dev-server contract suite, tests/e2e/test_dev_server_contract.py,
runs each adapter through errors and restarts on the local backend.)"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import create_session, push
from tests.distributed.cluster import read_events
from tests.project import project_file, project_files
from tests.sandboxes import sandbox_alive
from tests.server import ApiServer, wait_for

pytestmark = [pytest.mark.vite, pytest.mark.browser]


@dataclass(frozen=True)
class Framework:
    name: str  # the test's id
    fixture: str  # tests/fixtures/<fixture>
    component: str  # renders #title (and #count, a button counting clicks, where it has state)
    title: str  # #title's text as created
    stylesheet: str  # a stylesheet the page loads
    # How the page takes a stylesheet: pushed in by the agent ("css"), or by the framework's
    # own HMR (Next.js: "update")
    css_ack: str = "css"
    framework: str = ""  # as the API answers `framework`, if not `name`
    sample: bool = True  # in make test (False: under -m frameworks only)
    # Idle seconds before the sleep test's session sleeps: longer than the woken dev server's
    # first compile of the page (a request in flight does not hold sleep off; the default
    # is 5 minutes)
    sleeps_after: float = 3

    @property
    def answered(self) -> str:
        return self.framework or self.name


FRAMEWORKS = [
    Framework(
        "nextjs",
        "next-app",  # create-next-app 16.4's app-tw template, a client component added
        "app/counter.tsx",
        "Hello from Next.js",
        "app/globals.css",
        css_ack="update",
    ),
    Framework(
        "nextjs-pages",
        "next-pages-app",  # create-next-app 16.4's default-tw template (Pages Router)
        "components/Counter.tsx",
        "Hello from the Pages Router",
        "styles/globals.css",
        css_ack="update",
        framework="nextjs",
        sample=False,
    ),
    Framework(
        "nextjs15",
        "next15-app",  # create-next-app 15.5's app-tw template (`next dev --turbopack`)
        "app/counter.tsx",
        "Hello from Next.js 15",
        "app/globals.css",
        css_ack="update",
        framework="nextjs",
        sample=False,
        sleeps_after=10,  # Next 15 compiles the page for 4-6 s after a wake
    ),
    Framework(
        "astro",
        "astro-app",
        "src/components/Counter.tsx",
        "Hello from Astro",
        "src/styles/global.css",
    ),
    Framework(
        "sveltekit",
        "sveltekit-app",
        "src/routes/+page.svelte",
        "Welcome to SvelteKit",
        "src/app.css",
    ),
    Framework(
        "react-router",
        "react-router-app",
        "app/welcome.tsx",
        "Welcome to React Router",
        "app/app.css",
    ),
]


@pytest.fixture(
    params=[
        pytest.param(f, id=f.name, marks=[] if f.sample else [pytest.mark.frameworks])
        for f in FRAMEWORKS
    ]
)
def framework(request: pytest.FixtureRequest) -> Framework:
    value: Framework = request.param
    return value


def acknowledged(server: ApiServer, sid: str, update_id: str, timeout: float = 60) -> str:
    events = read_events(
        server.base_url,
        sid,
        until=lambda e: e.type == "update.applied" and e.data["updateId"] == update_id,
        timeout=timeout,
    )
    ack: str = events[-1].data["browserAck"]
    return ack


def fresh(browser: Any, url: str) -> tuple[str, str]:
    page = browser.new_page()
    try:
        page.goto(url)
        page.wait_for_selector("#title")
        page.wait_for_load_state("networkidle")
        return page.inner_text("#title"), page.evaluate(COLOUR)
    finally:
        page.close()


COLOUR = "getComputedStyle(document.querySelector('#title')).color"


def test_a_framework_project_starts_hot_updates_and_takes_a_package(
    backend: str, server: ApiServer, api: httpx.Client, browser: Any, framework: Framework
) -> None:
    files = project_files(framework.fixture)
    session = create_session(api, files)
    sid = session["sessionId"]
    assert (session["status"], session["framework"]) == ("active", framework.answered), session
    page = browser.new_page()
    try:
        page.goto(session["previewUrl"])
        page.wait_for_selector("#title")
        page.wait_for_load_state("networkidle")  # rendered on the server, then hydrated
        assert page.inner_text("#title") == framework.title
        page.evaluate("window.__marker = 'same page'")

        source = project_file(framework.component, framework.fixture)
        edited = source.replace(framework.title, "Edited live")
        assert edited != source
        result = push(api, sid, framework.component, edited)
        page.wait_for_function("document.querySelector('#title')?.textContent === 'Edited live'")
        assert acknowledged(server, sid, result["updateId"]) == "update"

        css = push(api, sid, framework.stylesheet, "#title {\n  color: rgb(0, 128, 0);\n}\n")
        page.wait_for_function(f"{COLOUR} === 'rgb(0, 128, 0)'")
        assert acknowledged(server, sid, css["updateId"]) == framework.css_ack
        assert page.evaluate("window.__marker") == "same page", "the page was reloaded"
        assert fresh(browser, session["previewUrl"]) == ("Edited live", "rgb(0, 128, 0)")

        # A package added: installed (no scripts), the dev server follows, the page with it.
        package = json.loads(project_file("package.json", framework.fixture))
        package.setdefault("dependencies", {})["is-odd"] = "3.0.1"
        added = push(api, sid, "package.json", json.dumps(package, indent=2))
        assert added["strategy"] == "full-deploy"
        assert acknowledged(server, sid, added["updateId"], timeout=180) == "reload"
        page.wait_for_function("document.querySelector('#title')?.textContent === 'Edited live'")
        status = api.get(f"/kontext/preview/{sid}").json()
        assert status["status"] == "active", status
        assert fresh(browser, session["previewUrl"]) == ("Edited live", "rgb(0, 128, 0)")
    finally:
        page.close()
        api.delete(f"/kontext/preview/{sid}")


# make test sleeps and wakes Astro; the others under -m frameworks
SLEEPERS = [
    pytest.param(f, id=f.name, marks=[] if f.name == "astro" else [pytest.mark.frameworks])
    for f in FRAMEWORKS
]


@pytest.mark.parametrize("framework", SLEEPERS)
def test_a_framework_session_sleeps_and_a_page_load_wakes_it(
    backend: str, tmp_path: Path, browser: Any, framework: Framework
) -> None:
    """Idle, it sleeps (its dev server stopped); a page load wakes it to what it showed, and
    the woken dev server hot-updates that page."""
    server = ApiServer.start(
        tmp_path,
        sandbox_backend=backend,
        hibernate_after_seconds=framework.sleeps_after,
        reap_interval_seconds=0.5,
    )
    try:
        with server.client() as api:
            session = create_session(api, project_files(framework.fixture))
            sid = session["sessionId"]
            source = project_file(framework.component, framework.fixture)
            push(api, sid, framework.component, source.replace(framework.title, "Before sleep"))
            read_events(server.base_url, sid, until=lambda e: e.type == "session.hibernated")
            assert wait_for(lambda: not sandbox_alive(backend, sid)), "still running"
            page = browser.new_page()
            try:
                page.goto(session["previewUrl"])  # the "waking up" page, then the app
                page.wait_for_function(
                    "document.querySelector('#title')?.textContent === 'Before sleep'",
                    timeout=90_000,
                )
                assert sandbox_alive(backend, sid)
                assert wait_for(lambda: page.evaluate("window.__kontext?.connected === true"), 60)
                page.wait_for_load_state("networkidle")
                # The first edit may find the woken dev server re-bundling what the page asks
                # for (a reload, acknowledged so); the page shows it either way.
                edit = push(api, sid, framework.component, source.replace(framework.title, "Woken"))
                page.wait_for_function("document.querySelector('#title')?.textContent === 'Woken'")
                assert acknowledged(server, sid, edit["updateId"]) in ("update", "reload")
                assert wait_for(lambda: page.evaluate("window.__kontext?.connected === true"), 60)
                page.wait_for_load_state("networkidle")
                page.evaluate("window.__marker = 'same page'")
                again = push(
                    api, sid, framework.component, source.replace(framework.title, "By HMR")
                )
                page.wait_for_function("document.querySelector('#title')?.textContent === 'By HMR'")
                assert acknowledged(server, sid, again["updateId"]) == "update"
                assert page.evaluate("window.__marker") == "same page"
            finally:
                page.close()
    finally:
        server.stop()
    assert not sandbox_alive(backend, sid)


def test_a_nextjs_server_component_edit_is_acknowledged_once_the_page_shows_it(
    backend: str, server: ApiServer, api: httpx.Client, browser: Any
) -> None:
    """A server component's change reaches a Next.js page as a refetch of its payload after
    Next's build: the page acknowledges it only once it shows it (the acknowledgement is
    checked against what the page showed at that moment), the page and its state kept."""
    if backend == "docker":
        pytest.skip("the page client is the same on both backends; run once")
    session = create_session(api, project_files("next-app"))
    sid = session["sessionId"]
    page = browser.new_page()
    try:
        page.goto(session["previewUrl"])
        page.wait_for_selector("#title")
        page.wait_for_load_state("networkidle")
        page.click("#count")
        page.wait_for_function("document.querySelector('#count').textContent === 'count is 1'")
        page.evaluate(
            """() => {
                window.__marker = 'same page';
                const acks = window.__kontext.acks;
                acks.push = (ack) => {
                    window.__shownAtAck = document.body.innerText.includes('Server edit');
                    return Array.prototype.push.call(acks, ack);
                };
            }"""
        )
        source = project_file("app/page.tsx", "next-app")
        edited = source.replace("To get started, edit the", "Server edit:")
        assert edited != source
        result = push(api, sid, "app/page.tsx", edited)
        assert acknowledged(server, sid, result["updateId"]) == "update"
        assert page.evaluate("window.__shownAtAck") is True, "acknowledged before it showed"
        assert page.evaluate("window.__marker") == "same page", "the page was reloaded"
        assert page.inner_text("#count") == "count is 1", "the client component lost its state"
    finally:
        page.close()
        api.delete(f"/kontext/preview/{sid}")


def test_a_project_that_needs_a_newer_node_runs_on_it(
    backend: str, server: ApiServer, api: httpx.Client, browser: Any
) -> None:
    """Astro 7 (and its React integration) asks for Node >=22.23.4 in engines.node; the
    machine runs Node 20: the session runs on a Node 22 release from the npm registry (its
    page, rendered on the server, says which), and hot-updates as any other."""
    session = create_session(api, project_files("astro7-app"))
    sid = session["sessionId"]
    status = api.get(f"/kontext/preview/{sid}").json()
    assert session["status"] == "active", status["logs"][-10:]
    assert any(line.startswith("node: running on 22.") for line in status["logs"]), status["logs"]
    page = browser.new_page()
    try:
        page.goto(session["previewUrl"])
        page.wait_for_selector("#title")
        page.wait_for_load_state("networkidle")
        assert page.inner_text("#node").startswith("rendered on Node v22."), page.inner_text(
            "#node"
        )
        page.evaluate("window.__marker = 'same page'")
        source = project_file("src/components/Counter.tsx", "astro7-app")
        edit = push(
            api, sid, "src/components/Counter.tsx", source.replace("Hello from Astro", "On 22")
        )
        page.wait_for_function("document.querySelector('#title')?.textContent === 'On 22'")
        assert acknowledged(server, sid, edit["updateId"]) == "update"
        assert page.evaluate("window.__marker") == "same page"
    finally:
        page.close()
        api.delete(f"/kontext/preview/{sid}")
