"""The playground the API serves at ``/``: try a sample project live in a browser.

The page (``web/``, vanilla JS and CodeMirror 6 from npm) is bundled by Vite at build time
(``make playground``, part of ``make serve``) into ``dist/``; nothing is loaded from a CDN.
It talks to the API it is served by through the TypeScript client (``clients/typescript``)
with the API key given in the page's address (``/#key=...``, as ``kontext-preview serve``
prints it) or typed in, as a chat's backend would; its preview pane is the client's React
``<PreviewFrame>`` with a browser token that key asked for, as a chat's page would hold.
Sample projects are in ``samples/<name>/`` (``sample.json`` names them);
``/playground/samples`` lists them and ``/playground/samples/<name>`` gives one's files as
the API takes them.
"""

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from kontext_preview.config import Settings
from kontext_preview.errors import KontextError

HERE = Path(__file__).parent
SAMPLES = HERE / "samples"
DIST = HERE / "dist"
NOT_BUILT = """<!doctype html><title>kontext-preview</title><p>The playground page is not
built: run <code>make playground</code> (or <code>make serve</code>). The API is at
<a href="/docs">/docs</a>.</p>"""

router = APIRouter(include_in_schema=False)


def samples() -> list[dict[str, Any]]:
    found = []
    for folder in (p for p in SAMPLES.iterdir() if (p / "sample.json").is_file()):
        about = json.loads((folder / "sample.json").read_text())
        found.append({"name": folder.name, **about})
    return sorted(found, key=lambda s: (s.get("order", 99), s["name"]))


def sample_files(name: str) -> list[dict[str, str]]:
    if name not in {s["name"] for s in samples()}:
        raise KontextError(f"no sample project {name[:80]!r}", status_code=404, code="not_found")
    root = SAMPLES / name
    return [
        {"name": path.relative_to(root).as_posix(), "content": path.read_text()}
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != "sample.json"
    ]


@router.get("/")
async def page(request: Request) -> Response:
    index = DIST / "index.html"
    if not index.is_file():
        return HTMLResponse(NOT_BUILT)
    settings: Settings = request.app.state.settings
    previews = f"{settings.public_scheme}://*.{settings.preview_domain}:*"
    policy = (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        f"frame-src {previews} {settings.public_scheme}://*.{settings.preview_domain}; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'"
    )
    return FileResponse(
        index, headers={"content-security-policy": policy, "cache-control": "no-cache"}
    )


@router.get("/playground/samples")
async def sample_list() -> dict[str, Any]:
    return {"samples": samples()}


@router.get("/playground/samples/{name}")
async def sample(name: str) -> dict[str, Any]:
    return {"files": sample_files(name)}


def mount(api: FastAPI) -> None:
    api.include_router(router)
    api.mount("/playground/assets", StaticFiles(directory=DIST / "assets", check_dir=False))
