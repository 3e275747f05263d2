"""/kontext/preview and /kontext/tokens endpoints: validate, call the SessionManager, answer
the API's models (schemas.py) made from what it returns."""

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from kontext_preview.auth import BrowserTokens
from kontext_preview.callers import Caller, EventsUser, StatusUser, UpdateUser, User
from kontext_preview.config import Settings
from kontext_preview.contract import SessionManager, SessionView
from kontext_preview.errors import ErrorResponse, InvalidRequest, SessionNotFound
from kontext_preview.events import EVENT_TYPES
from kontext_preview.inspector import Inspector
from kontext_preview.logs import bind_session
from kontext_preview.schemas import (
    BrowserTokenRequest,
    BrowserTokenResponse,
    CreatePreviewRequest,
    DeletePreviewResponse,
    DeploymentOut,
    InspectPreviewRequest,
    InspectPreviewResponse,
    PreviewSessionResponse,
    PreviewStatusResponse,
    UpdatePreviewRequest,
    UpdatePreviewResponse,
)
from kontext_preview.workspace.schemas import decode_files

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 413, 422, 429, 502, 503, 504)
}
router = APIRouter(prefix="/kontext/preview", tags=["previews"], responses=ERRORS)


async def get_sessions(request: Request) -> SessionManager:
    sessions: SessionManager = request.app.state.sessions
    return sessions


async def bound_session(session_id: str) -> str:
    """The session's id, bound to this request's log lines."""
    bind_session(session_id[:64])
    return session_id


async def get_inspector(request: Request) -> Inspector:
    inspector: Inspector = request.app.state.inspector
    return inspector


Service = Annotated[SessionManager, Depends(get_sessions)]
Looker = Annotated[Inspector, Depends(get_inspector)]
SessionId = Annotated[str, Depends(bound_session)]
WaitParam = Annotated[bool, Query(description="Answer only once the session is active or failed.")]


def session_fields(settings: Settings, view: SessionView) -> dict[str, Any]:
    return {
        "sessionId": view.id,
        "previewUrl": settings.preview_url(view.id),
        "wsUrl": settings.ws_url(view.id),
        "expiresAt": view.expiresAt,
        "status": view.status,
        "error": view.error,
        "framework": view.framework,
        "frameworkVersion": view.frameworkVersion,
        "viteRoot": view.viteRoot,
        "projectType": view.projectType,
        "deploymentUrl": view.deploymentUrl,
        "fallback": view.fallback,
        "warnings": view.warnings,
    }


async def _settle(service: Service, view: SessionView, wait: bool, user: str) -> SessionView:
    if not wait or view.settled:
        return view
    timeout = service.settings.install_timeout_seconds + service.settings.startup_timeout_seconds
    return await service.wait_settled(view.id, user, timeout)


@router.post("", response_model=PreviewSessionResponse, summary="Create a preview session")
async def create_preview(
    body: CreatePreviewRequest, service: Service, user: User, wait: WaitParam = False
) -> PreviewSessionResponse:
    view = await service.create(
        user, decode_files(body.files), body.packageJson, body.projectType, body.sessionId
    )
    bind_session(view.id)
    view = await _settle(service, view, wait, user)
    return PreviewSessionResponse(**session_fields(service.settings, view))


@router.post(
    "/{session_id}/update",
    response_model=UpdatePreviewResponse,
    response_model_by_alias=True,
    summary="Push changed files",
)
async def update_preview(
    session_id: SessionId,
    body: UpdatePreviewRequest,
    service: Service,
    inspector: Looker,
    user: UpdateUser,
    wait: WaitParam = False,
) -> UpdatePreviewResponse:
    outcome = await service.update(session_id, user, decode_files(body.files), body.deletedFiles)
    if outcome.status == "active":
        inspector.look_after_update(session_id)  # KONTEXT_INSPECT_AFTER_UPDATE
    if wait:
        view = await _settle(service, await service.view(session_id, user), wait, user)
        outcome = outcome.model_copy(update={"status": view.status})
    return UpdatePreviewResponse.model_validate(outcome.model_dump())


@router.get("/{session_id}", response_model=PreviewStatusResponse, summary="Session status")
async def get_preview(
    session_id: SessionId, service: Service, user: StatusUser
) -> PreviewStatusResponse:
    view = await service.view(session_id, user, detail=True)
    return PreviewStatusResponse(
        **session_fields(service.settings, view),
        lastEventId=await service.events.last_id(session_id),
        files=view.files,
        logs=view.logs,
        deployments=[DeploymentOut.model_validate(d.model_dump()) for d in view.deployments],
    )


@router.post(
    "/{session_id}/inspect",
    response_model=InspectPreviewResponse,
    summary="Look at the preview as a person would",
    description="Opens the preview in a headless Chromium of the service: a screenshot "
    "(PNG, base64), the title and visible text, console messages, uncaught errors, failed "
    "requests and timings. The app's errors also reach the event stream, as from any open "
    "page. 429 when KONTEXT_INSPECT_QUEUE looks wait; 503 without Chromium.",
)
async def inspect_preview(
    session_id: SessionId,
    service: Service,
    inspector: Looker,
    user: User,
    body: InspectPreviewRequest | None = None,
) -> InspectPreviewResponse:
    view = await service.view(session_id, user)  # the owner's, and known
    return await inspector.inspect(session_id, body or InspectPreviewRequest(), view.viteRoot)


@router.delete("/{session_id}", response_model=DeletePreviewResponse, summary="End a session")
async def delete_preview(
    session_id: SessionId, service: Service, user: User
) -> DeletePreviewResponse:
    await service.delete(session_id, user)
    return DeletePreviewResponse()


EVENTS_DESCRIPTION = (
    "Server-Sent Events, each with an `id`, a name (`event:` one of "
    + ", ".join(f"`{t}`" for t in EVENT_TYPES)
    + ") and JSON `data`. Reconnect with `Last-Event-ID` (or `?after=`) to get exactly what "
    "was missed. Keep-alive comments flow while nothing happens; the stream ends when the "
    "session does (`session.deleted`, `session.expired`)."
)


@router.get(
    "/{session_id}/events",
    summary="Follow a session's events (Server-Sent Events)",
    description=EVENTS_DESCRIPTION,
    response_class=EventSourceResponse,
    responses={
        200: {
            "content": {
                "text/event-stream": {
                    # One event of the stream: its data is a SessionEvent, as JSON text.
                    "schema": {
                        "type": "object",
                        "properties": {
                            "event": {"type": "string"},
                            "id": {"type": "string"},
                            "data": {
                                "type": "string",
                                "contentMediaType": "application/json",
                                "contentSchema": {"$ref": "#/components/schemas/SessionEvent"},
                            },
                        },
                    },
                }
            },
            "description": "The event stream: each event's `data` is a `SessionEvent`.",
        }
    },
)
async def preview_events(
    session_id: SessionId,
    service: Service,
    user: EventsUser,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[
        str | None, Query(description="Replay after this event id (as Last-Event-ID).")
    ] = None,
) -> EventSourceResponse:
    if not await service.owns(session_id, user) or not await service.events.exists(session_id):
        raise SessionNotFound(session_id[:80])
    keepalive = service.settings.sse_keepalive_seconds

    async def stream() -> AsyncIterator[ServerSentEvent]:
        async for event in service.events.follow(session_id, last_event_id or after, keepalive):
            if event is not None:
                yield ServerSentEvent(data=event.json(), event=event.type, id=event.id)

    return EventSourceResponse(stream(), ping=keepalive, send_timeout=30)


tokens_router = APIRouter(prefix="/kontext/tokens", tags=["tokens"], responses=ERRORS)


@tokens_router.post(
    "",
    response_model=BrowserTokenResponse,
    summary="A short-lived token for the chat's browser",
    description="With the API key only (a chat's backend): a JWT the chat's page sends as "
    "`Authorization: Bearer <token>` instead of the key, accepted for the key's user within "
    "its scopes (update, status, events) and, with `sessionId`, that session, until "
    "`expiresAt`. Revoked by removing the secret that signed it from KONTEXT_TOKEN_SECRETS "
    "or the API key from the configured keys. 404 when `sessionId` is not the user's.",
)
async def create_token(
    body: BrowserTokenRequest, request: Request, service: Service, user: User, caller: Caller
) -> BrowserTokenResponse:
    settings: Settings = request.app.state.settings
    ttl = body.ttlSeconds or settings.token_ttl_seconds
    if ttl > settings.token_max_ttl_seconds:
        raise InvalidRequest(
            f"ttlSeconds {ttl} is over the longest a token may live "
            f"({settings.token_max_ttl_seconds} s, KONTEXT_TOKEN_MAX_TTL_SECONDS)"
        )
    if body.sessionId is not None and not await service.owns(body.sessionId, user):
        raise SessionNotFound(body.sessionId[:80])
    tokens: BrowserTokens = request.app.state.browser_tokens
    token, expires_at = tokens.issue(caller, body.scopes, body.sessionId, ttl)
    return BrowserTokenResponse(
        token=token,
        user=user,
        sessionId=body.sessionId,
        scopes=sorted(set(body.scopes)),
        expiresAt=expires_at,
    )
