"""The ASGI application: the API on its own host, every preview on its own origin.

``create_app`` wires one SessionManager (embedded: a session engine with the
configured sandbox backend; distributed: Celery workers over Redis) into the FastAPI
API and the preview proxy. Requests whose Host is a preview
host (``preview-<id>.<domain>``) go to the proxy, everything else to the API,
so a preview's code can never call the API as same-origin.
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kontext_preview import __version__, playground
from kontext_preview.analyze_routes import router as analyze_router
from kontext_preview.auth import ApiKeys, BrowserTokens
from kontext_preview.callers import current_principal
from kontext_preview.config import Settings
from kontext_preview.contract import SessionManager
from kontext_preview.errors import KontextError, LimitExceeded
from kontext_preview.event_models import EVENTS
from kontext_preview.health import router as health_router
from kontext_preview.inspector import Inspector
from kontext_preview.metrics import Metrics
from kontext_preview.previews.embedded import EmbeddedSessionManager
from kontext_preview.previews.engine import SessionEngine
from kontext_preview.proxy.proxy import PreviewHosts, PreviewProxy
from kontext_preview.proxy.sites import DeployedSites
from kontext_preview.routes import router as previews_router
from kontext_preview.routes import tokens_router
from kontext_preview.sandbox import create_backend

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> ASGIApp:
    settings = settings or Settings()
    api_keys = ApiKeys.from_settings(settings)
    browser_tokens = BrowserTokens.from_settings(settings)
    sessions = create_session_manager(settings)
    proxy = PreviewProxy(sessions)
    inspector = Inspector(settings, proxy.open_pages)
    metrics = Metrics()
    sessions.events.observers.append(metrics.observe)  # the sessions this process runs

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await sessions.start()
        yield
        await inspector.aclose()
        await sessions.shutdown()
        await proxy.aclose()

    api = FastAPI(
        title="kontext-preview",
        version=__version__,
        description="Live previews of AI-written Vite apps that update in well under a second.",
        lifespan=lifespan,
    )
    api.state.sessions = sessions
    api.state.inspector = inspector
    api.state.settings = settings
    api.state.api_keys = api_keys
    api.state.browser_tokens = browser_tokens
    api.state.metrics = metrics
    api.include_router(health_router)
    authenticated = [Depends(current_principal)]
    api.include_router(previews_router, dependencies=authenticated)
    api.include_router(tokens_router, dependencies=authenticated)
    api.include_router(analyze_router, dependencies=authenticated)
    api.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    if settings.cors_origins:
        api.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["content-type", "authorization", "last-event-id"],
        )
    _add_error_handlers(api)
    _add_event_schemas(api)

    playground.mount(api)

    return HostRouter(
        api,
        proxy,
        PreviewHosts(settings),
        DeployedSites(settings),
        PreviewHosts(settings, settings.deploy_prefix),
    )


def _add_event_schemas(api: FastAPI) -> None:
    """The event stream's events in the OpenAPI schema: ``SessionEvent`` (their union,
    discriminated by ``type``) and a schema per event, for clients to generate types from
    (the stream's response points at the union)."""
    made = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = made()
            union = EVENTS.json_schema(
                ref_template="#/components/schemas/{model}", mode="serialization"
            )
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(union.pop("$defs", {}))
            schemas["SessionEvent"] = union
        return api.openapi_schema or {}

    api.openapi = openapi  # type: ignore[method-assign]


def create_session_manager(settings: Settings) -> SessionManager:
    """Embedded: sessions run in this process. Distributed: Celery workers run them."""
    if settings.mode == "distributed":
        from kontext_preview.distributed.manager import DistributedSessionManager

        return DistributedSessionManager(settings)
    return EmbeddedSessionManager(SessionEngine(settings, create_backend(settings)))


class HostRouter:
    """Send preview hosts to the proxy, deployment hosts to their published sites and
    every other host to the API."""

    def __init__(
        self,
        api: FastAPI,
        proxy: PreviewProxy,
        hosts: PreviewHosts,
        sites: DeployedSites,
        site_hosts: PreviewHosts,
    ):
        self.api = api
        self.proxy = proxy
        self.hosts = hosts
        self.sites = sites
        self.site_hosts = site_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = Headers(scope=scope).get("host")
            session_id = self.hosts.session_id(host)
            if session_id is not None:
                await self.proxy(scope, receive, send, session_id)
                return
            session_id = self.site_hosts.session_id(host)
            if session_id is not None:
                await self.sites(scope, receive, send, session_id)
                return
        await self.api(scope, receive, send)


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` before they are buffered and parsed."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            await error_response(self._error())(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise self._error()
            return message

        await self.app(scope, limited_receive, send)

    def _error(self) -> LimitExceeded:
        return LimitExceeded(
            f"request body is over {self.max_bytes} bytes (KONTEXT_MAX_REQUEST_BYTES); "
            "send fewer or smaller files per request"
        )


def error_response(exc: KontextError) -> JSONResponse:
    return JSONResponse(
        {"success": False, "error": {"code": exc.code, "message": exc.message}},
        status_code=exc.status_code,
        headers=exc.headers,
    )


def _add_error_handlers(api: FastAPI) -> None:
    @api.exception_handler(KontextError)
    async def kontext_error(request: Request, exc: KontextError) -> JSONResponse:
        request.app.state.metrics.api_error(exc.code)
        return error_response(exc)

    @api.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            detail = errors[0].get("ctx", {}).get("error", "")
            return error_response(
                KontextError(
                    f"request body is not valid JSON: {detail}",
                    status_code=400,
                    code="invalid_json",
                )
            )
        message = "; ".join(_describe(e) for e in errors[:10])
        return error_response(KontextError(message, status_code=422, code="invalid_request"))

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, KontextError):  # FastAPI wraps errors raised reading the body
            return error_response(exc.__cause__)
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            return error_response(
                KontextError(
                    "request body is not valid JSON: it must be UTF-8 text (send binary files "
                    'base64-encoded, with "encoding": "base64")',
                    status_code=400,
                    code="invalid_json",
                )
            )
        code = "not_found" if exc.status_code == 404 else "http_error"
        return error_response(KontextError(str(exc.detail), status_code=exc.status_code, code=code))

    @api.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(KontextError(f"internal error: {type(exc).__name__}"))


def _describe(error: Any) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    return f"{where or 'body'}: {error.get('msg', 'invalid')}"
