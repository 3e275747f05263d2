"""Hostile projects: what an AI (or someone steering it) could send. Each gets a clear error
or is contained, and the API and the other sessions keep serving."""

import base64
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.capacity import proc_memory
from kontext_preview.config import DEV_SERVER_ENV
from tests.conftest import create_session, push, replace_file, session_dir
from tests.project import project_files
from tests.server import ALICE_KEY, ApiServer, wait_for

pytestmark = [pytest.mark.adversarial, pytest.mark.vite]
PACKAGE = "src/frontend/package.json"
CONFIG = "src/frontend/vite.config.ts"

REFUSED_NAMES = [
    "../escape.js",
    "src/../../escape.js",
    "./../escape.js",
    "..\\escape.js",
    "src\\..\\..\\escape.js",
    "/etc/escape.js",
    "C:/escape.js",
    "c:\\escape.js",
    "\\\\server\\share\\escape.js",
    "src/\x00escape.js",
    "src/\nescape.js",
    "",
    "src//escape.js",
    "src/./escape.js",
    "node_modules/react/index.js",
    "src/frontend/node_modules/x.js",
    ".git/config",
    "a" * 600,
]
# Spellings that only look like a way out: taken literally, they are names inside.
CONTAINED_NAMES = [
    "%2e%2e/escape.js",
    "..%2fescape.js",
    "%2e%2e%2fescape.js",
    "\uff0e\uff0e/escape.js",  # fullwidth full stops
    "\u2025/escape.js",  # two dot leader
    "\u2024\u2024/escape.js",  # one dot leaders
    "..\u2215escape.js",  # division slash
    "...",
]


@pytest.fixture(scope="module")
def healthy(server: ApiServer, api: httpx.Client) -> Iterator[str]:
    """A session that must keep serving whatever the others send."""
    sid = create_session(api, project_files())["sessionId"]
    yield sid
    assert server.preview_get(sid, "/src/Header.tsx").status_code == 200, "a session was harmed"
    api.delete(f"/kontext/preview/{sid}")


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:500])
    body: dict[str, Any] = response.json()
    assert body["success"] is False and set(body["error"]) == {"code", "message"}
    return body["error"]


def files_outside(server: ApiServer) -> list[Path]:
    """Anything named like an escape that landed outside a project's copy (a session's
    workspace, a deployment's build folder). Installed packages may hold a file of that
    name (cross-spawn's lib/util/escape.js): node_modules folders and the package cache are
    not looked in."""
    top = server.data_dir.parent
    cache = server.data_dir / "npm-cache"
    return [
        p
        for p in top.rglob("escape.js")
        if "node_modules" not in p.parts
        and not p.is_relative_to(cache)
        and (
            not p.is_relative_to(server.data_dir)
            or not any(part == "workspace" or part.startswith("build-") for part in p.parts)
        )
    ]


def test_path_escapes_in_every_spelling(server: ApiServer, api: httpx.Client, healthy: str) -> None:
    for name in REFUSED_NAMES:
        files = [*project_files(), {"name": name, "content": "pwned"}]
        error = error_of(api.post("/kontext/preview", json={"files": files}), 400)
        assert error["code"] in ("invalid_file_name", "invalid_request"), (name, error)
        update = api.post(
            f"/kontext/preview/{healthy}/update", json={"files": [{"name": name, "content": "x"}]}
        )
        error_of(update, 400)
    for name in CONTAINED_NAMES:
        answer = api.post(
            f"/kontext/preview/{healthy}/update", json={"files": [{"name": name, "content": "x"}]}
        )
        assert answer.status_code == 200, (name, answer.text)
        inside = session_dir(server, healthy) / "workspace" / name
        assert inside.is_file(), f"{name!r} should be a file inside the workspace"
    assert not files_outside(server)


def test_a_link_planted_by_the_projects_own_code_is_never_followed(
    server: ApiServer, api: httpx.Client, healthy: str, tmp_path: Path
) -> None:
    """The local backend runs vite.config with the service's rights: it can plant a symlink
    in its workspace. The API's next write through it is refused, not followed."""
    outside = tmp_path / "outside"
    outside.mkdir()
    planting = (
        'import { defineConfig } from "vite";\nimport react from "@vitejs/plugin-react";\n'
        'import fs from "node:fs";\n'
        f'try {{ fs.symlinkSync({json.dumps(str(outside))}, "planted"); }} catch {{}}\n'
        "export default defineConfig({ plugins: [react()] });\n"
    )
    sid = create_session(api, replace_file(project_files(), CONFIG, planting))["sessionId"]
    planted = session_dir(server, sid) / "workspace" / "src" / "frontend" / "planted"
    assert wait_for(planted.is_symlink), "the config did not plant its link"
    for name in ("src/frontend/planted/pwned.txt", "src/frontend/planted"):
        answer = api.post(
            f"/kontext/preview/{sid}/update", json={"files": [{"name": name, "content": "x"}]}
        )
        assert "symbolic link" in error_of(answer, 400)["message"]
    assert list(outside.iterdir()) == []
    api.delete(f"/kontext/preview/{sid}")


@pytest.mark.parametrize(
    ("name", "wanted", "said"),
    [
        ("../../evil", "1.0.0", "is not a valid npm package name"),
        ("evil name", "1.0.0", "is not a valid npm package name"),
        ("@scope/../x", "1.0.0", "is not a valid npm package name"),
        ("left-pad", "file:../../../../etc", "points outside the project"),
        ("left-pad", "link:/etc", "npm does not install link: specs"),
        ("left-pad", "/etc", "points outside the project"),
        ("left-pad", "git+https://example.com/x.git", "previews install from the npm registry"),
        ("left-pad", "https://example.com/x.tgz", "previews install from the npm registry"),
        ("left-pad", 42, "must be a string"),
    ],
)
def test_dependencies_npm_must_never_see(
    api: httpx.Client, healthy: str, name: str, wanted: Any, said: str
) -> None:
    package = json.loads(next(f["content"] for f in project_files() if f["name"] == PACKAGE))
    package["dependencies"][name] = wanted
    files = replace_file(project_files(), PACKAGE, json.dumps(package))
    assert said in error_of(api.post("/kontext/preview", json={"files": files}), 400)["message"]
    update = api.post(
        f"/kontext/preview/{healthy}/update",
        json={"files": [{"name": PACKAGE, "content": json.dumps(package)}]},
    )
    assert said in error_of(update, 400)["message"]


def test_the_project_code_gets_no_secret_of_the_service(
    server: ApiServer, api: httpx.Client
) -> None:
    """Even the local backend's dev server (the project's own code) runs without the
    service's environment: no API keys, no settings. (Containers see less: see
    tests/sandbox/test_docker_isolation.py.)"""
    probe = (
        'import { defineConfig } from "vite";\nimport react from "@vitejs/plugin-react";\n'
        "export default defineConfig({ plugins: [react(), { name: 'env', configureServer(s) {"
        " s.middlewares.use('/__env', (q, r) => r.end(JSON.stringify(process.env))); } }] });\n"
    )
    sid = create_session(api, replace_file(project_files(), CONFIG, probe))["sessionId"]
    seen = server.preview_get(sid, "/__env").json()
    assert not [k for k in seen if k.startswith("KONTEXT") or "KEY" in k.upper()], seen
    passed = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "NODE_ENV", *DEV_SERVER_ENV}
    assert set(seen) <= passed, seen  # DEV_SERVER_ENV: the dev servers' own (memory)
    api.delete(f"/kontext/preview/{sid}")


def test_a_500_megabyte_payload_is_refused_without_being_held(
    server: ApiServer, api: httpx.Client, healthy: str
) -> None:
    # Declared: answered from the headers alone (a raw request: clients refuse to lie).
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.sendall(
            b"POST /kontext/preview HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            + f"authorization: Bearer {ALICE_KEY}\r\ncontent-type: application/json\r\n".encode()
            + f"content-length: {500 * 2**20}\r\n\r\n".encode()
        )
        answer = b""
        while b"limit_exceeded" not in answer and (chunk := raw.recv(65536)):
            answer += chunk
    text = answer.decode(errors="replace")
    assert text.startswith("HTTP/1.1 413") and "limit_exceeded" in text, text[:300]

    def body() -> Iterator[bytes]:
        yield b'{"files": [{"name": "big.txt", "content": "'
        chunk = b"x" * 2**20
        for _ in range(500):
            yield chunk
        yield b'"}]}'

    rss_before = proc_memory([server.process.pid])["rss"]
    try:
        streamed = api.post(
            "/kontext/preview", content=body(), headers={"content-type": "application/json"}
        )
        assert error_of(streamed, 413)["code"] == "limit_exceeded"
    except httpx.TransportError:
        pass  # the server answered 413 and closed while the client was still sending
    grown = proc_memory([server.process.pid])["rss"] - rss_before
    assert grown < 150, "the body was held in memory"
    assert api.get(f"/kontext/preview/{healthy}").status_code == 200


def test_a_hundred_thousand_tiny_files(api: httpx.Client, healthy: str) -> None:
    files = [{"name": f"src/f{i}.js", "content": ""} for i in range(100_000)]
    error = error_of(api.post("/kontext/preview", json={"files": files}), 413)
    assert "100000 files" in error["message"] and "2000" in error["message"]


def test_invalid_utf8(server: ApiServer, api: httpx.Client) -> None:
    raw = b'{"files": [{"name": "index.html", "content": "\xff\xfe"}]}'
    answer = api.post("/kontext/preview", content=raw, headers={"content-type": "application/json"})
    assert error_of(answer, 400)["code"] == "invalid_json"
    # As a base64 file it is the project's business: the page reports a compile error.
    sid = create_session(api, project_files())["sessionId"]
    broken = base64.b64encode(b"export default () => <h1>\xff\xfe</h1>;\n\xc3\x28").decode()
    update = api.post(
        f"/kontext/preview/{sid}/update",
        json={
            "files": [
                {"name": "src/frontend/src/Header.tsx", "content": broken, "encoding": "base64"}
            ]
        },
    ).json()
    assert update["status"] == "active"
    assert any("UTF-8" in r for c in update["changes"] for r in c["reasons"]), update["changes"]
    served = server.preview_get(sid, "/src/Header.tsx")
    assert served.status_code in (200, 500)  # Vite answers; the API does not fall over
    push(api, sid, "src/frontend/src/Header.tsx", "export default () => <h1>fixed</h1>;\n")
    assert "fixed" in server.preview_get(sid, "/src/Header.tsx").text
    api.delete(f"/kontext/preview/{sid}")


@pytest.mark.browser
def test_a_preview_page_cannot_use_the_api(
    server: ApiServer, api: httpx.Client, browser: Any
) -> None:
    """The preview is another origin: no CORS grant, no cookie (the API takes bearer keys
    only), and a request it can still send carries no key, so it is refused."""
    folder = server.data_dir / "sessions"
    attack = f"""
const api = "{server.base_url}";
const out = (text) =>
  document.body.insertAdjacentHTML("beforeend", `<p class=result>${{text}}</p>`);
fetch(api + "/kontext/preview/x", {{ credentials: "include" }})
  .then((r) => out("read " + r.status), (e) => out("blocked " + e.name));
fetch(api + "/kontext/preview", {{ method: "POST", mode: "no-cors", credentials: "include",
  body: JSON.stringify({{ files: [{{ name: "index.html", content: "x" }}] }}) }})
  .then((r) => out("sent " + r.type), (e) => out("blocked " + e.name));
"""
    files = [
        {
            "name": "index.html",
            "content": "<body><script type=module src=/main.js></script></body>",
        },
        {"name": "main.js", "content": attack},
    ]
    session = create_session(api, files)
    sessions_before = len(list(folder.iterdir()))
    page = browser.new_page()
    page.goto(session["previewUrl"])
    results = page.locator(".result")
    results.nth(1).wait_for()
    texts = sorted(results.all_inner_texts())
    assert texts == ["blocked TypeError", "sent opaque"], texts
    assert page.context.cookies(server.base_url) == []
    assert len(list(folder.iterdir())) == sessions_before, "the page created a session"
    page.close()
    assert api.get(f"/kontext/preview/{session['sessionId']}").json()["status"] == "active"
    api.delete(f"/kontext/preview/{session['sessionId']}")
