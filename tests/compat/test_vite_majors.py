"""The official `npm create vite` templates of every Vite major from 4 to 8, taken from the
`create-vite` npm package of each major during the test (not copied by hand): each starts
through the API, renders in Chromium through the proxy, takes a component edit without a
reload and a CSS edit, and reports a syntax error as `preview.error`, then recovers.

The projects run their own Vite and plugins, installed by npm from their package.json as
create-vite left it. `make test` runs a sample (one template a major, a different
framework each); `pytest -m matrix` runs every template of every major."""

import base64
import json
import re
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import create_session, push
from tests.distributed.cluster import read_events
from tests.server import ApiServer, agent_pids, inotify_watches

pytestmark = [pytest.mark.browser, pytest.mark.vite, pytest.mark.network]

# create-vite major → the Vite major its templates pin (shared/notes/real-projects.md).
CREATE_VITE = {"4": 4, "5": 5, "6": 6, "7": 7, "9": 8}
TEMPLATES = ("react", "react-ts", "vue-ts", "svelte-ts")
SAMPLE = {("4", "react-ts"), ("5", "vue-ts"), ("6", "svelte-ts"), ("7", "react"), ("9", "react-ts")}
# The heading's text in each major's templates ("Vite + React"; create-vite 9: "Get started").
TITLE = re.compile(r"Vite \+ \w+|Get started")
STYLESHEETS = ("src/index.css", "src/style.css", "src/app.css")
BROKEN = "\nconst broken = ;\n"  # what no JS or TS compiler takes


def broken(name: str, source: str) -> str:
    """The component with a syntax error in its code (a .vue/.svelte file's in its script)."""
    if name.endswith((".vue", ".svelte")):
        return re.sub(r"(<script[^>]*>)", lambda m: m.group(1) + BROKEN, source, count=1)
    return source + BROKEN


def cases() -> Iterator[Any]:
    for major, vite in CREATE_VITE.items():
        for template in TEMPLATES:
            marks = [] if (major, template) in SAMPLE else [pytest.mark.matrix]
            yield pytest.param(major, template, id=f"vite{vite}-{template}", marks=marks)


@pytest.fixture(scope="module")
def create_vite(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each create-vite major's package, unpacked (npm pack: the registry's own tarball)."""
    folder = tmp_path_factory.mktemp("create-vite")
    unpacked = {}
    for major in CREATE_VITE:
        done = subprocess.run(
            ["npm", "pack", f"create-vite@{major}", "--silent", "--pack-destination", str(folder)],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        tarball = folder / done.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball) as archive:
            archive.extractall(folder / major, filter="data")
        unpacked[major] = folder / major / "package"
    return unpacked


def template_files(package: Path, template: str) -> dict[str, str]:
    """The template's text files as `npm create vite` writes them (`_gitignore` becomes
    `.gitignore`); binary ones (images) go as base64 (see `as_body`)."""
    root = package / f"template-{template}"
    files = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.relative_to(root).as_posix()
        data = path.read_bytes()
        try:
            files[".gitignore" if name == "_gitignore" else name] = data.decode()
        except UnicodeDecodeError:
            files[name] = BINARY + base64.b64encode(data).decode()
    return files


BINARY = "base64:"


def as_body(files: dict[str, str]) -> list[dict[str, str]]:
    return [
        {"name": n, "content": c.removeprefix(BINARY), "encoding": "base64"}
        if c.startswith(BINARY)
        else {"name": n, "content": c}
        for n, c in files.items()
    ]


def title_file(files: dict[str, str]) -> str:
    return next(n for n in sorted(files) if n.startswith("src/") and TITLE.search(files[n]))


@pytest.mark.parametrize(("major", "template"), list(cases()))
def test_create_vite_template(
    server: ApiServer,
    api: httpx.Client,
    browser: Any,
    create_vite: dict[str, Path],
    major: str,
    template: str,
) -> None:
    files = template_files(create_vite[major], template)
    pinned = json.loads(files["package.json"])["devDependencies"]["vite"]
    body = as_body(files)
    session = create_session(api, body)
    sid = session["sessionId"]
    assert session["status"] == "active", session
    logs = api.get(f"/kontext/preview/{sid}").json()["logs"]
    started = next(line for line in logs if re.search(r"Vite \d+\.\d+\.\d+ ready", line))
    assert f"Vite {CREATE_VITE[major]}." in started, (pinned, started)

    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(session["previewUrl"])
    title = TITLE.search(files[title_file(files)])
    assert title
    page.wait_for_function(
        "t => document.querySelector('h1')?.textContent.includes(t)", arg=title.group(0)
    )
    page.evaluate("window.__kontextMarker = 'loaded once'")
    assert [inotify_watches(pid) for pid in agent_pids(sid)] == [0], "a file watcher runs"

    # A component edit: the new text without a reload.
    component = title_file(files)
    edited = TITLE.sub("Kontext edit", files[component], count=1)
    assert push(api, sid, component, edited)["hmrTriggered"] is True
    page.wait_for_function("document.querySelector('h1').textContent.includes('Kontext edit')")
    assert page.evaluate("window.__kontextMarker") == "loaded once"

    # A CSS edit: the computed style changes, still without a reload.
    stylesheet = next(n for n in STYLESHEETS if n in files)
    push(api, sid, stylesheet, files[stylesheet] + "\nh1 { color: rgb(1, 2, 3); }\n")
    page.wait_for_function(
        "getComputedStyle(document.querySelector('h1')).color === 'rgb(1, 2, 3)'"
    )
    assert page.evaluate("window.__kontextMarker") == "loaded once"

    # A syntax error reaches the chat as preview.error; the fixing edit recovers.
    push(api, sid, component, broken(component, edited))
    events = read_events(server.base_url, sid, until=lambda e: e.type == "preview.error")
    assert events[-1].type == "preview.error", [e.type for e in events]
    assert events[-1].data.get("file") == component, events[-1].data
    push(api, sid, component, edited.replace("Kontext edit", "Fixed", 1))
    page.wait_for_function(
        "document.querySelector('h1')?.textContent.includes('Fixed')", timeout=30_000
    )
    assert not errors, errors
    page.close()
    assert api.delete(f"/kontext/preview/{sid}").json() == {"success": True}
