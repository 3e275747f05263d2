"""The stacks AI app builders emit start from a prepared stack template, and what a
project adds beyond it is installed alone (sandbox-images/stacks,
kontext_preview/sandbox/dependencies.py).

The project (tests/fixtures/ai-stack-app) is a shadcn/ui app as such builders make it: 68
dependencies (React 18, Vite 5, plugin-react-swc, Tailwind 3, the Radix primitives, a router,
React Query...), Tailwind classes, a Radix dialog and two routes.
"""

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import create_session, replace_file, session_dir, with_dependency
from tests.project import project_files
from tests.server import ApiServer, ready_slots, wait_for

pytestmark = [pytest.mark.vite]
STACK = "stacks/react18-vite5-tailwind3"
NPM_LOCK_ONLY = ["npm", "install", "--package-lock-only", "--ignore-scripts", "--no-audit"]
EMERALD_600 = "rgb(5, 150, 105)"  # Tailwind 3's text-emerald-600 (#059669)


def ai_stack(**extra: str) -> list[dict[str, Any]]:
    files = project_files("ai-stack-app")
    package = json.loads(next(f["content"] for f in files if f["name"] == "package.json"))
    package["dependencies"].update(extra)
    return replace_file(files, "package.json", json.dumps(package, indent=2))


def logs_of(api: httpx.Client, session_id: str) -> list[str]:
    logs: list[str] = api.get(f"/kontext/preview/{session_id}").json()["logs"]
    return logs


def vite_version(node_modules: Path) -> str:
    version: str = json.loads((node_modules / "vite/package.json").read_text())["version"]
    return version


def installed_tree(server: ApiServer, backend: str, session_id: str, app: str = "") -> Path:
    """Where the session's installed node_modules is on this machine (``app``: the
    package.json's folder)."""
    folder = session_dir(server, session_id)
    if backend == "docker":  # deps/<folder>/node_modules, mounted at <folder>/node_modules
        return folder / "deps" / (app or ".") / "node_modules"
    return folder / "workspace" / app / "node_modules"


@pytest.fixture(scope="module")
def offline_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A server whose npm registry is a closed local port: nothing can be installed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    registry = f"http://127.0.0.1:{closed}/"
    srv = ApiServer.start(
        tmp_path_factory.mktemp("offline"),
        env={"npm_config_registry": registry},
        sandbox_backend=backend,
        browser_ack_timeout_seconds=30,
    )
    yield srv
    srv.stop()


@pytest.mark.browser
def test_an_ai_stack_project_starts_from_its_stack_with_no_registry(
    offline_server: ApiServer, browser: Any
) -> None:
    with offline_server.client() as api:
        session = create_session(api, ai_stack())
        sid = session["sessionId"]
        logs = logs_of(api, sid)
        assert session["status"] == "active", (session.get("error"), logs[-20:])
        assert (
            f"dependencies: all provided by the prepared template {STACK}, nothing to install"
            in logs
        )
        assert not any(line.startswith("npm: ") for line in logs), logs
        page = browser.new_page()
        seen: list[str] = []
        page.on("console", lambda m: seen.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: seen.append(f"pageerror: {e}"))
        try:
            page.goto(session["previewUrl"])
            try:
                # A cold machine reads the stack (18,000 files) for the first time here.
                title = page.wait_for_selector("#title", timeout=120_000)
            except Exception as exc:
                raise AssertionError(f"{seen}\n{logs_of(api, sid)[-30:]}") from exc
            assert title and "Plant Tracker" in title.inner_text()
            color = page.evaluate("getComputedStyle(document.getElementById('title')).color")
            assert color == EMERALD_600  # only the Tailwind class gives it this colour
            page.click("#open")  # the Radix dialog opens in a portal
            assert page.wait_for_selector("#dialog-text").is_visible()
            page.keyboard.press("Escape")
            page.click("#about-link")  # the router's client-side navigation
            assert page.wait_for_selector("#about")
            assert page.evaluate("location.pathname") == "/about"
        finally:
            page.close()
        api.delete(f"/kontext/preview/{sid}")


@pytest.mark.browser
def test_a_nextjs_project_starts_from_its_stack_with_no_registry(
    offline_server: ApiServer, browser: Any
) -> None:
    """create-next-app 16.4's project (issue 33) needs no npm: the Next.js stack has it
    (Turbopack compiles through the link to the stack's tree: adapters/next.mjs)."""
    stack = "stacks/next16-react19-tailwind4"
    with offline_server.client() as api:
        session = create_session(api, project_files("next-app"))
        sid = session["sessionId"]
        logs = logs_of(api, sid)
        assert session["status"] == "active", (session.get("error"), logs[-20:])
        assert (
            f"dependencies: all provided by the prepared template {stack}, nothing to install"
            in logs
        )
        assert not any(line.startswith("npm: ") for line in logs), logs
        page = browser.new_page()
        try:
            page.goto(session["previewUrl"])
            title = page.wait_for_selector("#title", timeout=120_000)
            assert title and title.inner_text() == "Hello from Next.js"
            page.click("#count")  # hydrated: React answers the click
            page.wait_for_function("document.querySelector('#count').textContent === 'count is 1'")
        finally:
            page.close()
        api.delete(f"/kontext/preview/{sid}")


@pytest.mark.network
def test_packages_beyond_the_stack_are_installed_alone(
    backend_server: ApiServer, backend: str
) -> None:
    server = backend_server
    api = server.client()
    hidden = Path(__file__).parents[2] / "sandbox-images" / STACK / "node_modules"
    hidden /= ".package-lock.json"  # npm's hidden lockfile: rewritten in place by installs
    template_lock = hidden.read_bytes()
    session = create_session(api, ai_stack(**{"is-odd": "3.0.1"}))
    sid = session["sessionId"]
    assert session["status"] == "active", (session, logs_of(api, session["sessionId"])[-20:])
    workspace = session_dir(server, sid) / "workspace"
    tree = installed_tree(server, backend, sid)
    template_vite = vite_version(
        Path(__file__).parents[2] / "sandbox-images" / STACK / "node_modules"
    )
    assert vite_version(tree) == template_vite
    logs = logs_of(api, sid)
    seeded = f"dependencies: starting from a copy of the prepared template {STACK}, which has"
    assert any(line.startswith(seeded) for line in logs), logs
    assert "dependencies: installing is-odd@3.0.1 with npm (install scripts disabled)" in logs
    # is-odd and its own dependency (is-number 6, nested: the stack has is-number 7), nothing else.
    added = (
        "dependencies: installed; npm added 2 packages "
        "(is-odd/node_modules/is-number@6.0.0, is-odd@3.0.1)"
    )
    assert added in logs, [line for line in logs if line.startswith("dependencies")]

    package = json.loads((workspace / "package.json").read_text())
    package["dependencies"]["left-pad"] = "1.3.0"
    update = {"files": [{"name": "package.json", "content": json.dumps(package)}]}
    answer = api.post(f"/kontext/preview/{sid}/update", params={"wait": "true"}, json=update)
    assert answer.status_code == 200, answer.text
    status = api.get(f"/kontext/preview/{sid}").json()
    assert status["status"] == "active", status
    logs = status["logs"]
    assert "dependencies: installing left-pad@1.3.0 with npm (install scripts disabled)" in logs
    added = "dependencies: installed; npm added 1 package (left-pad@1.3.0)"
    assert added in logs, [line for line in logs if line.startswith("dependencies")]
    assert vite_version(tree) == template_vite
    assert (tree / "is-odd/package.json").is_file()
    # The session's installs left the template as it was (its hidden lockfile copied, not
    # linked: linked, the next install over the template "removed" 150 packages).
    assert hidden.read_bytes() == template_lock
    assert hidden.stat().st_nlink == 1
    page = server.preview_get(sid, "/src/pages/Index.tsx")
    assert page.status_code == 200 and "Plant Tracker" in page.text
    api.delete(f"/kontext/preview/{sid}")
    api.close()


@pytest.mark.browser
def test_a_warm_slot_of_the_stack_takes_an_ai_stack_project(tmp_path: Path, browser: Any) -> None:
    """KONTEXT_POOL_TEMPLATES keeps slots of a stack template: the AI-stack app takes one
    over (its Vite started, the stack pre-bundled) and renders styled."""
    server = ApiServer.start(
        tmp_path, pool_size=1, pool_templates=[STACK], pool_refill_delay_seconds=0.2
    )
    try:
        ready = lambda: ready_slots("".join(server.output))  # noqa: E731
        assert wait_for(ready, timeout=120), "".join(server.output)[-2000:]
        (slot,) = ready()
        with server.client() as api:
            session = create_session(api, ai_stack())
            assert session["sessionId"] == slot and session["status"] == "active", session
            assert any("started from the warm pool" in line for line in logs_of(api, slot))
            page = browser.new_page()
            try:
                page.goto(session["previewUrl"])
                page.wait_for_selector("#title", timeout=120_000)
                color = page.evaluate("getComputedStyle(document.getElementById('title')).color")
                assert color == EMERALD_600
            finally:
                page.close()
            # A project the stack does not satisfy (the Vite template's app) starts its own.
            cold = create_session(api, project_files())
            assert cold["status"] == "active"
            assert not any("warm pool" in line for line in logs_of(api, cold["sessionId"]))
    finally:
        server.stop()


@pytest.mark.network
def test_a_package_lock_the_project_sends_is_honoured(
    backend_server: ApiServer, backend: str, tmp_path: Path
) -> None:
    """The test app plus `is-odd: ^3.0.0`, with a package-lock.json that pins 3.0.0 (3.0.1
    is the newest 3.x): npm installs 3.0.0, and writes nothing into the project."""
    made = tmp_path / "lock"
    made.mkdir()
    (made / "package.json").write_text(json.dumps({"name": "app", "version": "1.0.0"}))
    subprocess.run(
        [*NPM_LOCK_ONLY, "is-odd@3.0.0"], cwd=made, check=True, capture_output=True, timeout=120
    )
    lock = (made / "package-lock.json").read_text()
    app = "src/frontend"
    files = with_dependency(project_files(), "is-odd", "^3.0.0")
    files.append({"name": f"{app}/package-lock.json", "content": lock})
    with backend_server.client() as api:
        session = create_session(api, files)
        sid = session["sessionId"]
        assert session["status"] == "active", (session, logs_of(api, sid)[-20:])
        tree = installed_tree(backend_server, backend, sid, app)
        assert json.loads((tree / "is-odd/package.json").read_text())["version"] == "3.0.0"
        workspace = session_dir(backend_server, sid) / "workspace" / app
        assert (workspace / "package-lock.json").read_text() == lock
        assert json.loads((workspace / "package.json").read_text())["dependencies"]["is-odd"] == (
            "^3.0.0"
        )
        api.delete(f"/kontext/preview/{sid}")
