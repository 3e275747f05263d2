"""A worker whose dependency install takes 20 s (its registry answers slowly): the create
answers at once without ``wait`` and, with ``?wait=true``, 200 once the session is
active; never 503 (a slow worker is not a Redis that does not answer)."""

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.distributed.cluster import Cluster
from tests.project import project_files

pytestmark = [pytest.mark.distributed, pytest.mark.vite, pytest.mark.network]

SLOW_PACKAGE = "is-odd"
DELAY_SECONDS = 20.0
UPSTREAM = "https://registry.npmjs.org"


@pytest.fixture
def slow_registry() -> Iterator[str]:
    """A registry on loopback that forwards to npm's, answering for SLOW_PACKAGE only after
    DELAY_SECONDS."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    state: dict[str, Any] = {}

    async def forward(request: web.Request) -> web.Response:
        if request.path.strip("/") == SLOW_PACKAGE:  # its packument; its tarball as ever
            await asyncio.sleep(DELAY_SECONDS)
        async with httpx.AsyncClient(timeout=60) as client:
            upstream = await client.get(
                UPSTREAM + request.path_qs, headers={"accept": request.headers.get("accept", "*/*")}
            )
        return web.Response(
            body=upstream.content,
            status=upstream.status_code,
            content_type=upstream.headers.get("content-type", "application/json").split(";")[0],
        )

    async def serve() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", forward)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state["port"] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        state["runner"] = runner
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(serve(), loop)
    assert started.wait(10)
    yield f"http://127.0.0.1:{state['port']}/"
    asyncio.run_coroutine_threadsafe(state["runner"].cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def with_slow_package(files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    import json

    out = []
    for entry in files:
        if entry["name"].endswith("package.json") and "node_modules" not in entry["name"]:
            manifest = json.loads(entry["content"])
            manifest["dependencies"][SLOW_PACKAGE] = "3.0.1"  # in no template: an install
            entry = {**entry, "content": json.dumps(manifest)}
        out.append(entry)
    return out


def test_a_worker_whose_install_takes_20_s_is_waited_for_never_503(
    tmp_path: Path, slow_registry: str
) -> None:
    cluster = Cluster.start(tmp_path, ())
    try:
        cluster.add_worker("i1", npm_config_registry=slow_registry)
        files = with_slow_package(project_files())
        with cluster.api.client() as api:
            began = time.monotonic()
            at_once = api.post("/kontext/preview", json={"files": files})
            assert at_once.status_code == 200, at_once.text
            assert time.monotonic() - began < DELAY_SECONDS / 2
            assert at_once.json()["status"] in ("installing", "starting")

            began = time.monotonic()
            waited = api.post("/kontext/preview", params={"wait": "true"}, json={"files": files})
            took = time.monotonic() - began
            assert waited.status_code == 200, waited.text
            assert waited.json()["status"] == "active", waited.json()
            assert took > DELAY_SECONDS - 5, f"the install was not slow ({took:.1f} s)"
            for sid in (at_once.json()["sessionId"], waited.json()["sessionId"]):
                assert api.delete(f"/kontext/preview/{sid}").status_code == 200
    finally:
        cluster.stop()
