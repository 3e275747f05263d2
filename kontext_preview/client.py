"""A Python client for the kontext-preview API: every endpoint and the event stream, sync and
async (httpx), answering with the API's own pydantic models.

    from kontext_preview.client import KontextClient

    with KontextClient("http://127.0.0.1:8000", api_key) as kontext:
        session = kontext.create({"index.html": "<div id=app></div>", "main.js": "..."})
        kontext.update(session.sessionId, {"main.js": "..."})
        for event in kontext.events(session.sessionId):
            print(event.type, event.data)

Files are a mapping of name → ``str`` (text) or ``bytes`` (sent as base64 unless they are
UTF-8), or a list of :class:`ProjectFile`. A 4xx/5xx answer raises :class:`ApiError` with
the API's error code and message.
"""

import base64
import json
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from httpx_sse import ServerSentEvent, aconnect_sse, connect_sse
from pydantic import BaseModel

from kontext_preview.errors import KontextError
from kontext_preview.schemas import (
    AnalyzeResponse,
    BrowserTokenResponse,
    InspectPreviewRequest,
    InspectPreviewResponse,
    PreviewSessionResponse,
    PreviewStatusResponse,
    UpdatePreviewResponse,
)
from kontext_preview.workspace.schemas import ProjectFile

Files = Mapping[str, str | bytes] | Iterable[ProjectFile]
Model = TypeVar("Model", bound=BaseModel)
PREVIEW = "/kontext/preview"


class ApiError(KontextError):
    """The API refused: ``status_code``, ``code`` and ``message`` as it said them."""


@dataclass(frozen=True)
class Event:
    """One event of a session's stream (see the README's events table)."""

    id: str
    type: str
    data: dict[str, Any]


def project_files(files: Files) -> list[dict[str, str]]:
    """The API's ``files`` list."""
    if isinstance(files, Mapping):
        return [_file(name, content) for name, content in files.items()]
    return [f.model_dump() for f in files]


def _file(name: str, content: str | bytes) -> dict[str, str]:
    if isinstance(content, str):
        return {"name": name, "content": content}
    try:
        return {"name": name, "content": content.decode("utf-8")}
    except UnicodeDecodeError:
        return {"name": name, "content": base64.b64encode(content).decode(), "encoding": "base64"}


class _Calls:
    """What each call sends, and how an answer is read: one place for both clients."""

    @staticmethod
    def create(
        files: Files,
        package_json: dict[str, Any] | None,
        project_type: str | None,
        session_id: str | None,
        wait: bool,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"files": project_files(files)}
        extra = {"packageJson": package_json, "projectType": project_type, "sessionId": session_id}
        body.update({k: v for k, v in extra.items() if v is not None})
        return {"method": "POST", "url": PREVIEW, "json": body, "params": {"wait": wait}}

    @staticmethod
    def update(session_id: str, files: Files, deleted: Iterable[str], wait: bool) -> dict[str, Any]:
        body = {"files": project_files(files), "deletedFiles": list(deleted)}
        url = f"{PREVIEW}/{session_id}/update"
        return {"method": "POST", "url": url, "json": body, "params": {"wait": wait}}

    @staticmethod
    def analyze(old: Files, new: Files, policy: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"oldFiles": project_files(old), "newFiles": project_files(new)}
        if policy:
            body["policy"] = policy
        return {"method": "POST", "url": "/kontext/analyze", "json": body}

    @staticmethod
    def browser_token(
        session_id: str | None, scopes: Iterable[str] | None, ttl_seconds: int | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"sessionId": session_id, "ttlSeconds": ttl_seconds}
        if scopes is not None:
            body["scopes"] = list(scopes)
        return {"method": "POST", "url": "/kontext/tokens", "json": body}

    @staticmethod
    def read(response: httpx.Response, model: type[Model]) -> Model:
        if response.is_error:
            raise _error(response)
        return model.model_validate(response.json())


def _error(response: httpx.Response) -> ApiError:
    try:
        detail = response.json()["error"]
        code, message = str(detail["code"]), str(detail["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "http_error", response.text[:500] or response.reason_phrase
    return ApiError(message, status_code=response.status_code, code=code)


def _event(sse: ServerSentEvent) -> Event:
    return Event(sse.id, sse.event, json.loads(sse.data) if sse.data else {})


def _headers(api_key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {api_key}"}


def _resume(last_event_id: str | None) -> dict[str, str]:
    return {"last-event-id": last_event_id} if last_event_id else {}


class KontextClient:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 180.0, **httpx_args: Any):
        self.http = httpx.Client(
            base_url=base_url, headers=_headers(api_key), timeout=timeout, **httpx_args
        )

    def __enter__(self) -> "KontextClient":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def create(
        self,
        files: Files,
        *,
        package_json: dict[str, Any] | None = None,
        project_type: str | None = None,
        session_id: str | None = None,
        wait: bool = True,
    ) -> PreviewSessionResponse:
        """A new session (``wait``: answer once it is active or failed)."""
        call = _Calls.create(files, package_json, project_type, session_id, wait)
        return _Calls.read(self.http.request(**call), PreviewSessionResponse)

    def update(
        self, session_id: str, files: Files = (), deleted: Iterable[str] = (), *, wait: bool = False
    ) -> UpdatePreviewResponse:
        call = _Calls.update(session_id, files, deleted, wait)
        return _Calls.read(self.http.request(**call), UpdatePreviewResponse)

    def get(self, session_id: str) -> PreviewStatusResponse:
        return _Calls.read(self.http.get(f"{PREVIEW}/{session_id}"), PreviewStatusResponse)

    def delete(self, session_id: str) -> None:
        response = self.http.delete(f"{PREVIEW}/{session_id}")
        if response.is_error:
            raise _error(response)

    def inspect(self, session_id: str, **options: Any) -> InspectPreviewResponse:
        """Look at the preview in the service's headless Chromium (``options``: the fields
        of InspectPreviewRequest: path, width, height, fullPage, screenshot, settleMs)."""
        response = self.http.post(
            f"{PREVIEW}/{session_id}/inspect", json=InspectPreviewRequest(**options).model_dump()
        )
        return _Calls.read(response, InspectPreviewResponse)

    def analyze(self, old: Files, new: Files, policy: str | None = None) -> AnalyzeResponse:
        return _Calls.read(self.http.request(**_Calls.analyze(old, new, policy)), AnalyzeResponse)

    def browser_token(
        self,
        session_id: str | None = None,
        *,
        scopes: Iterable[str] | None = None,
        ttl_seconds: int | None = None,
    ) -> BrowserTokenResponse:
        """A short-lived token for the chat's page (POST /kontext/tokens; see the README's
        "Browser tokens"): ``scopes`` of update, status, events (default all), one session
        or all of the key's user's, ``ttl_seconds`` (default the service's, 900)."""
        call = _Calls.browser_token(session_id, scopes, ttl_seconds)
        return _Calls.read(self.http.request(**call), BrowserTokenResponse)

    def events(self, session_id: str, last_event_id: str | None = None) -> Iterator[Event]:
        """The session's events as they come (after ``last_event_id``, if given); ends when
        the session does."""
        url = f"{PREVIEW}/{session_id}/events"
        timeout = httpx.Timeout(self.http.timeout.connect, read=None)
        with connect_sse(
            self.http, "GET", url, headers=_resume(last_event_id), timeout=timeout
        ) as source:
            if source.response.is_error:
                source.response.read()
                raise _error(source.response)
            for sse in source.iter_sse():
                yield _event(sse)


class AsyncKontextClient:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 180.0, **httpx_args: Any):
        self.http = httpx.AsyncClient(
            base_url=base_url, headers=_headers(api_key), timeout=timeout, **httpx_args
        )

    async def __aenter__(self) -> "AsyncKontextClient":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def create(
        self,
        files: Files,
        *,
        package_json: dict[str, Any] | None = None,
        project_type: str | None = None,
        session_id: str | None = None,
        wait: bool = True,
    ) -> PreviewSessionResponse:
        call = _Calls.create(files, package_json, project_type, session_id, wait)
        return _Calls.read(await self.http.request(**call), PreviewSessionResponse)

    async def update(
        self, session_id: str, files: Files = (), deleted: Iterable[str] = (), *, wait: bool = False
    ) -> UpdatePreviewResponse:
        call = _Calls.update(session_id, files, deleted, wait)
        return _Calls.read(await self.http.request(**call), UpdatePreviewResponse)

    async def get(self, session_id: str) -> PreviewStatusResponse:
        response = await self.http.get(f"{PREVIEW}/{session_id}")
        return _Calls.read(response, PreviewStatusResponse)

    async def delete(self, session_id: str) -> None:
        response = await self.http.delete(f"{PREVIEW}/{session_id}")
        if response.is_error:
            raise _error(response)

    async def inspect(self, session_id: str, **options: Any) -> InspectPreviewResponse:
        response = await self.http.post(
            f"{PREVIEW}/{session_id}/inspect", json=InspectPreviewRequest(**options).model_dump()
        )
        return _Calls.read(response, InspectPreviewResponse)

    async def analyze(self, old: Files, new: Files, policy: str | None = None) -> AnalyzeResponse:
        response = await self.http.request(**_Calls.analyze(old, new, policy))
        return _Calls.read(response, AnalyzeResponse)

    async def browser_token(
        self,
        session_id: str | None = None,
        *,
        scopes: Iterable[str] | None = None,
        ttl_seconds: int | None = None,
    ) -> BrowserTokenResponse:
        """As KontextClient.browser_token."""
        call = _Calls.browser_token(session_id, scopes, ttl_seconds)
        return _Calls.read(await self.http.request(**call), BrowserTokenResponse)

    async def events(
        self, session_id: str, last_event_id: str | None = None
    ) -> AsyncIterator[Event]:
        url = f"{PREVIEW}/{session_id}/events"
        timeout = httpx.Timeout(self.http.timeout.connect, read=None)
        async with aconnect_sse(
            self.http, "GET", url, headers=_resume(last_event_id), timeout=timeout
        ) as source:
            if source.response.is_error:
                await source.response.aread()
                raise _error(source.response)
            async for sse in source.aiter_sse():
                yield _event(sse)
