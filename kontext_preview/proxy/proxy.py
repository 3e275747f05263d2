"""Reverse proxy from each preview's own origin to its dev server: HTTP and the HMR WebSocket.

Every session is served at its own host (``preview-<id>.<domain>``), so previews
are isolated from each other and from the API by the browser's same-origin
policy, and generated code that hard-codes ``/logo.svg`` works. Requests to the
agent's control paths (``/__kontext/``) are never forwarded.

Why not asgiproxy or fastapi-proxy-lib: both accept the browser's WebSocket
before the upstream answers and do not pass the negotiated subprotocol back.
Vite's client needs both right: it speaks ``vite-hmr``/``vite-ping`` and treats an
accepted ``vite-ping`` socket as "server is back". Here the upstream socket is
opened first, and the browser is accepted with the subprotocol Vite chose.

HTTP goes upstream with aiohttp over pooled connections (about 0.3 ms a request on
loopback where httpx took 1 ms: a page load fetches dozens of modules, and an HMR
update's module is on the path to the screen), with no cookie jar (previews share
the pool) and bodies passed through as they are (no decompression).
"""

import asyncio
import contextlib
import json
import logging
import re
from collections import Counter
from os import PathLike
from pathlib import Path

import aiohttp
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.typing import Origin, Subprotocol
from yarl import URL

from kontext_preview import pages
from kontext_preview.config import Settings
from kontext_preview.contract import Route, SessionManager, SessionStatus
from kontext_preview.deploy.sites import site_folder
from kontext_preview.errors import StoreUnavailable
from kontext_preview.logs import bind_session
from kontext_preview.proxy import guard
from kontext_preview.proxy.pages import page_response
from kontext_preview.proxy.sites import SpaFiles
from kontext_preview.snapshots import SnapshotReader, variant

log = logging.getLogger(__name__)
CONTROL_PREFIX = b"/__kontext/"
# What a page standing in for the app asks, to follow what the preview shows
# ({status, deployment, view}: kontext_preview.contract.Route.view); it loads again when the
# view moves on (pages.follow_script).
ROUTE_PATH = b"/__kontext/route"
FOLLOW_MS = 2000  # how often the fallback deployment's pages ask
# What a preview origin answers for a service worker's script (a browser fetches it with
# `Service-Worker: script`, https://w3c.github.io/ServiceWorker/#service-worker-script-request):
# an app's own worker (a PWA's cache-first one) would serve the modules of an earlier load on
# the preview's origin, so a reload showed an older version than the files. This one takes
# over from any worker installed before, drops the caches and serves nothing itself: the
# app's registration still succeeds, and every request reaches the dev server.
SERVICE_WORKER_SCRIPT = b"""// kontext-preview: apps' own service workers do not run on previews.
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil((async () => {
  for (const key of await caches.keys()) await caches.delete(key);
  await self.clients.claim();
})()));
"""
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)
UPSTREAM_CONNECT_SECONDS = 5.0
# A session whose dev server is on its way: a page snapshot may answer for it.
WAKING = frozenset(
    {SessionStatus.HIBERNATED.value, SessionStatus.INSTALLING.value, SessionStatus.STARTING.value}
)
WAKE_POLL_SECONDS = 0.05
# A page whose dev server left is held (PreviewProxy._follow_next_server): the route is
# looked at every FOLLOW_FAST_POLL_SECONDS for the first FOLLOW_FAST_SECONDS (an install and
# start), then every FOLLOW_SLOW_POLL_SECONDS (a session asleep); a page told to reload that
# is still there after RELOAD_GRACE_SECONDS is let go.
FOLLOW_FAST_POLL_SECONDS = 0.2
FOLLOW_FAST_SECONDS = 300.0
FOLLOW_SLOW_POLL_SECONDS = 1.0
RELOAD_GRACE_SECONDS = 10.0
# Told to a held page before it reloads: once loaded from the next dev server, it
# acknowledges the update that started it, if one did (sandbox-images/agent/page/client.js).
LAUNCH_RELOAD = json.dumps(
    {"type": "custom", "event": "kontext:update", "data": {"seq": "launch", "reload": True}}
)  # how often a held request looks whether the dev server serves
SNAPSHOT_HEADER = b"x-kontext-snapshot"  # on answers from a page snapshot: "hit"
# aiohttp adds these unless told not to: the browser's own (or none) go upstream.
SKIPPED_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
SMALL_RESPONSE_BYTES = 1024 * 1024


class PreviewHosts:
    """Recognises preview hosts: ``{prefix}{id}.{domain}`` with an optional port (the
    deployment hosts with ``prefix=settings.deploy_prefix``)."""

    def __init__(self, settings: Settings, prefix_setting: str | None = None):
        prefix = re.escape(prefix_setting or settings.preview_prefix)
        domain = re.escape(settings.preview_domain)
        self._pattern = re.compile(rf"^{prefix}([a-z0-9]{{1,63}})\.{domain}$")

    def session_id(self, host_header: str | None) -> str | None:
        if not host_header:
            return None
        hostname = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
        match = self._pattern.match(hostname.lower().rstrip("."))
        return match.group(1) if match else None


class PreviewProxy:
    def __init__(self, sessions: SessionManager):
        self.sessions = sessions
        self.settings = sessions.settings
        self._sockets: Counter[str] = Counter()  # open HMR sockets (pages), by session
        self._client: aiohttp.ClientSession | None = None
        self.snapshots = SnapshotReader(self.settings)

    @property
    def client(self) -> aiohttp.ClientSession:
        """Made on first use, inside the server's event loop."""
        if self._client is None:
            self._client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=500, limit_per_host=100),
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=UPSTREAM_CONNECT_SECONDS, sock_read=60.0
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                skip_auto_headers=SKIPPED_AUTO_HEADERS,
            )
        return self._client

    def open_pages(self, session_id: str) -> int:
        """Pages of the session connected through this proxy now (their HMR sockets)."""
        return self._sockets[session_id]

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send, session_id: str) -> None:
        bind_session(session_id)
        # A page load wakes a hibernated session; an HMR socket (re)connecting does not, or
        # every open tab would keep its session awake forever.
        try:
            resume = scope["type"] == "http" and scope["raw_path"] != ROUTE_PATH
            route = await self.sessions.route(session_id, resume=resume)
        except StoreUnavailable as exc:  # distributed mode's store is down: say so, try later
            log.warning("preview %s: %s", session_id, exc.message)
            route = Route(status=SessionStatus.STARTING)
        if scope["type"] == "websocket":
            await self._websocket(WebSocket(scope, receive, send), route, session_id)
            return
        response = await self._http(Request(scope, receive), route, session_id)
        await response(scope, receive, send)

    async def _http(
        self, request: Request, route: Route | None, session_id: str, hold: bool = True
    ) -> Response:
        raw_path = request.scope["raw_path"]
        if raw_path == ROUTE_PATH:
            view = route.view if route is not None else "not-found"
            answer: dict[str, str | None] = {"view": view}
            if route is not None:
                answer |= {"status": route.status, "deployment": route.deployment}
            return JSONResponse(
                answer,
                status_code=404 if route is None else 200,
                headers={"cache-control": "no-store"},
            )
        if route is None or raw_path.startswith(CONTROL_PREFIX):
            return page_response(pages.not_found())
        if refused := guard.refusal(raw_path, request.scope["query_string"]):
            log.warning("preview: refused %s: %s", _target(request.scope)[:200], refused)
            return page_response(pages.error_page(400, f"Refused: {refused}."))
        if request.headers.get("service-worker") == "script":
            return Response(
                SERVICE_WORKER_SCRIPT,
                headers={"content-type": "text/javascript", "cache-control": "no-store"},
            )
        view = route.view
        if view == "expired":
            return page_response(pages.expired())
        if view.startswith("failed:"):
            return page_response(pages.failed(route.error or "unknown error", view))
        if view.startswith("deployment:"):
            return await self._fallback(request, route, session_id)
        if view.startswith("deploy-failed:"):
            reason = f"{route.error or 'unknown error'}\n\nThe deployment failed too: "
            return page_response(pages.failed(reason + (route.deploy_error or ""), view))
        if view.startswith("deploying:"):
            return page_response(pages.deploying(route.error or "unknown error", view))
        if route.upstream is None:
            return await self._waking(request, route, session_id, hold)
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in request.headers.raw
            if k not in HOP_BY_HOP
        ]
        try:
            upstream = await self.client.request(
                request.method,
                URL(f"http://{route.upstream}{_target(request.scope)}", encoded=True),
                headers=headers,
                data=request.stream() if _has_body(request) else None,
                allow_redirects=False,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            return page_response(pages.unreachable(f"{type(exc).__name__}: {exc}"))
        headers_out = [
            (k.lower(), v) for k, v in upstream.raw_headers if k.lower() not in HOP_BY_HOP
        ]
        if _small(upstream):  # most modules: read whole, sent at once (a stream costs ~1 ms)
            try:
                body = await upstream.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                return page_response(pages.unreachable(f"{type(exc).__name__}: {exc}"))
            finally:
                upstream.release()
            response: Response = Response(body, upstream.status)
        else:
            response = StreamingResponse(
                upstream.content.iter_any(),
                status_code=upstream.status,
                background=BackgroundTask(_release, upstream),
            )
        response.raw_headers = headers_out
        return response

    async def _waking(
        self, request: Request, route: Route, session_id: str, hold: bool
    ) -> Response:
        """No dev server serves yet. A waking session with a page snapshot answers from it
        (snapshots.py); a request it does not have waits for the dev server (a page shown
        from the snapshot asks for it), but a page it does not have gets the waiting page."""
        snapshot = await self.snapshots.get(session_id) if route.status in WAKING else None
        if snapshot is None:
            return page_response(pages.starting(route.status, route.error))
        headers = request.headers
        accept, dest = headers.get("accept"), headers.get("sec-fetch-dest")
        entry = snapshot.lookup(_target(request.scope), accept, dest)
        if entry is not None and request.method == "GET":
            body = await self.snapshots.body(snapshot, entry)
            if body is not None:
                response = Response(body)
                response.raw_headers = [
                    *((k.encode(), v.encode()) for k, v in entry.headers),
                    (b"content-length", str(len(body)).encode()),
                    (SNAPSHOT_HEADER, b"hit"),
                ]
                return response
        if not hold or variant(accept, dest) == "document":
            return page_response(pages.starting(route.status, route.error))
        return await self._http(request, await self._until_served(session_id), session_id, False)

    async def _until_served(self, session_id: str) -> Route | None:
        """The session's route once its dev server serves, it stops waking, or
        ``startup_timeout_seconds`` passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.startup_timeout_seconds
        while True:
            route = await self.sessions.route(session_id, resume=False)
            if route is None or route.upstream or route.status not in WAKING:
                return route
            if loop.time() >= deadline:
                return route
            await asyncio.sleep(WAKE_POLL_SECONDS)

    async def _snapshot_holds(self, session_id: str, upstream: str, browser: WebSocket) -> bool:
        """Whether a page shown from the session's snapshot is what its woken dev server
        serves: the snapshot is still there (no file changed since), and the dev server
        answers its pre-bundled dependencies (Vite's ``?v=`` URLs: a dependency optimizer
        that ran again at start answers 504 for the earlier bundle's, and a page mixing two
        bundles of React breaks)."""
        snapshot = await self.snapshots.get(session_id)
        if snapshot is None:
            return False
        host = browser.headers.get("host", "")
        for url, _ in snapshot.entries:
            if "?v=" not in url and "&v=" not in url:
                continue
            try:
                async with self.client.get(
                    URL(f"http://{upstream}{url}", encoded=True), headers={"host": host}
                ) as answer:
                    if answer.status != 200:
                        log.info(
                            "preview %s: woken page reloads: %s answers %d",
                            session_id,
                            url,
                            answer.status,
                        )
                        return False
            except (aiohttp.ClientError, TimeoutError):
                return False
        return True

    async def _fallback(self, request: Request, route: Route, session_id: str) -> Response:
        """The session's published deployment, served at the preview's own origin while the
        live preview cannot serve; its pages follow the newest truth (a newer deployment,
        or the live preview back) by themselves."""
        files = SpaFiles(site_folder(self.settings, session_id))
        try:
            response: Response = await files.get_response(
                files.get_path(request.scope), request.scope
            )
        except HTTPException as exc:
            return page_response(pages.error_page(exc.status_code, str(exc.detail)))
        served = getattr(response, "path", None)
        if not isinstance(served, str | PathLike) or not str(served).endswith(".html"):
            return response
        try:
            html = await asyncio.to_thread(Path(served).read_text, errors="replace")
        except OSError:
            return page_response(pages.not_deployed())
        follow = pages.follow_script(route.view, FOLLOW_MS)
        head = html.find("</head>")
        html = html[:head] + follow + html[head:] if head >= 0 else follow + html
        return HTMLResponse(html, headers={"cache-control": "no-store"})

    async def _websocket(self, browser: WebSocket, route: Route | None, session_id: str) -> None:
        woken = (
            route is not None
            and route.upstream is None
            and route.status in WAKING
            and "vite-hmr" in browser.scope.get("subprotocols", [])
            and await self.snapshots.get(session_id) is not None
        )
        if woken:
            # A page shown from the snapshot connects for HMR: to the dev server once it serves.
            route = await self._until_served(session_id)
        upstream_at = route.upstream if route else None
        failed = route is not None and route.status == SessionStatus.FAILED
        if upstream_at is None and failed and "vite-ping" in browser.scope.get("subprotocols", []):
            # Vite's client, its dev server gone, asks whether to reload: yes, so that an open
            # page moves to what the preview shows now (the failure, or the fallback
            # deployment). Not while starting or asleep: a reload would wake it.
            await browser.accept(subprotocol="vite-ping")
            await browser.close()
            return
        if upstream_at is None:
            await browser.close(code=1013)  # before accept: the browser sees a refused handshake
            return
        origin = browser.headers.get("origin")
        try:
            upstream = await connect(
                f"ws://{upstream_at}{_target(browser.scope)}",
                subprotocols=[Subprotocol(p) for p in browser.scope.get("subprotocols", [])]
                or None,
                origin=Origin(origin) if origin else None,
                open_timeout=UPSTREAM_CONNECT_SECONDS,
                compression=None,
                max_size=None,
                ping_interval=None,
            )
        except (OSError, TimeoutError, WebSocketException):
            await browser.close(code=1011)
            return
        server_left = False
        async with upstream:
            await browser.accept(subprotocol=upstream.subprotocol)
            if woken and not await self._snapshot_holds(session_id, upstream_at, browser):
                # The files changed while the page was shown from its snapshot (an update
                # drops it before the dev server hears of the change), or the woken dev
                # server pre-bundled its dependencies anew: the page reloads from it.
                with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                    await browser.send_text(json.dumps({"type": "full-reload"}))
                    await browser.close()
                return
            self._sockets[session_id] += 1
            try:
                server_left = await _bridge(browser, upstream)
            finally:
                self._sockets[session_id] -= 1
                if self._sockets[session_id] <= 0:
                    del self._sockets[session_id]
        if server_left:
            await self._follow_next_server(browser, session_id)

    async def _follow_next_server(self, browser: WebSocket, session_id: str) -> None:
        """The dev server behind an open page went away (a restart for new dependencies or
        its config, a crash, hibernation, a move to another node): the page's socket stays
        open, and the page is told to reload (``full-reload``, which every Vite major's
        client obeys) once the preview shows something again: a dev server that answers,
        or what stands in for it (a failure, the fallback deployment, the expired page).
        Not while it starts or sleeps: the page keeps the last app meanwhile, as with
        plain Vite. Closing the socket instead would orphan the page on Vite 5 and
        earlier, whose client ignores a clean close for ever (issue 29)."""
        listening = asyncio.create_task(_until_gone(browser))
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            while not listening.done():
                if await self._shows_again(session_id, browser):
                    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                        await browser.send_text(LAUNCH_RELOAD)
                        await browser.send_text(json.dumps({"type": "full-reload", "path": "*"}))
                    # The page reloads (its socket goes with it); one that does not is let go.
                    await asyncio.wait({listening}, timeout=RELOAD_GRACE_SECONDS)
                    return
                soon = loop.time() - began < FOLLOW_FAST_SECONDS
                interval = FOLLOW_FAST_POLL_SECONDS if soon else FOLLOW_SLOW_POLL_SECONDS
                await asyncio.wait({listening}, timeout=interval)
        finally:
            listening.cancel()
            if browser.client_state is WebSocketState.CONNECTED:
                with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                    await browser.close()

    async def _shows_again(self, session_id: str, browser: WebSocket) -> bool:
        """Whether a page held after its dev server left should load again now."""
        try:
            route = await self.sessions.route(session_id, resume=False)
        except StoreUnavailable:
            return False
        if route is None:
            return True  # deleted: the page shows so
        view = route.view
        if view in ("starting", "waking"):
            return False
        if view != "app" or route.upstream is None:
            return True
        try:  # any HTTP answer: the dev server serves (Vite's own restart reuses the port)
            async with self.client.get(
                URL(f"http://{route.upstream}/@vite/client", encoded=True),
                headers={"host": browser.headers.get("host", "")},
                timeout=aiohttp.ClientTimeout(total=UPSTREAM_CONNECT_SECONDS),
            ) as answer:
                return answer.status < 500
        except (aiohttp.ClientError, TimeoutError):
            return False


async def _bridge(browser: WebSocket, upstream: ClientConnection) -> bool:
    """Pass messages both ways until one side leaves; True if the dev server left first
    (the browser's socket is then left open for the caller)."""

    async def browser_to_upstream() -> None:
        with contextlib.suppress(WebSocketDisconnect, ConnectionClosed):
            while True:
                message = await browser.receive()
                if message["type"] == "websocket.disconnect":
                    return
                data = message.get("text")
                await upstream.send(data if data is not None else message.get("bytes") or b"")

    async def upstream_to_browser() -> None:
        # The browser may have gone meanwhile (a tab closed or reloaded): normal, not an error.
        with contextlib.suppress(ConnectionClosed, RuntimeError, WebSocketDisconnect):
            async for message in upstream:
                if isinstance(message, str):
                    await browser.send_text(message)
                else:
                    await browser.send_bytes(message)

    from_browser = asyncio.create_task(browser_to_upstream())
    from_upstream = asyncio.create_task(upstream_to_browser())
    try:
        done, _ = await asyncio.wait(
            [from_browser, from_upstream], return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        from_browser.cancel()
        from_upstream.cancel()
    server_left = from_upstream in done and browser.client_state is WebSocketState.CONNECTED
    # Close the browser's side unless it closed first (closing it again raises
    # WebSocketDisconnect: a closed or reloaded tab is the usual way a bridge ends).
    if not server_left and browser.client_state is WebSocketState.CONNECTED:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await browser.close()
    return server_left


async def _until_gone(browser: WebSocket) -> None:
    """Read (and drop) what a held page sends until it leaves."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while (await browser.receive())["type"] != "websocket.disconnect":
            pass


def _target(scope: Scope) -> str:
    path: str = scope["raw_path"].decode("latin-1")
    query: bytes = scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


async def _release(response: aiohttp.ClientResponse) -> None:
    response.release()


def _small(response: aiohttp.ClientResponse) -> bool:
    length = response.headers.get("content-length", "")
    return length.isdigit() and int(length) <= SMALL_RESPONSE_BYTES


def _has_body(request: Request) -> bool:
    headers = request.headers
    return "content-length" in headers or "transfer-encoding" in headers
