"""kontext_preview.client against a real server: every endpoint and the event stream, sync
and async."""

import asyncio
import base64
import threading
from typing import Any

import pytest

from kontext_preview.client import ApiError, AsyncKontextClient, Event, KontextClient
from kontext_preview.workspace.schemas import ProjectFile
from tests.project import project_files
from tests.server import ALICE_KEY, BOB_KEY, ApiServer

pytestmark = pytest.mark.vite
HEADER = "src/frontend/src/Header.tsx"


def as_mapping(files: list[dict[str, Any]]) -> dict[str, str | bytes]:
    """The client's plain form: text as str, binary files as bytes."""
    return {
        f["name"]: base64.b64decode(f["content"]) if f.get("encoding") == "base64" else f["content"]
        for f in files
    }


def test_every_call_and_the_event_stream(server: ApiServer) -> None:
    with KontextClient(server.base_url, ALICE_KEY) as kontext:
        session = kontext.create(as_mapping(project_files()), project_type="icpstudio")
        sid = session.sessionId
        assert session.status == "active" and session.projectType == "icpstudio"
        assert kontext.get(sid).files == len(project_files())
        assert server.preview_get(sid, "/favicon.png").content.startswith(b"\x89PNG")

        events: list[Event] = []
        follower = threading.Thread(target=lambda: events.extend(kontext.events(sid)))
        follower.start()
        update = kontext.update(sid, {HEADER: "export default () => <h1>client</h1>;\n"})
        assert update.updated == [HEADER] and update.updateId
        analysis = kontext.analyze(
            {"a.css": "a { color: red }"}, [ProjectFile(name="a.css", content="a { color: blue }")]
        )
        assert analysis.strategy == "css-injection"
        kontext.delete(sid)
        follower.join(30)
        assert not follower.is_alive(), "the stream ends with the session"
        kinds = [e.type for e in events]
        assert "update.applied" in kinds and kinds[-1] == "session.deleted"
        applied = next(e for e in events if e.type == "update.applied")
        assert applied.data["updateId"] == update.updateId
        # Resuming after an event replays only what came after it.
        later = list(kontext.events(sid, last_event_id=applied.id))
        assert [e.type for e in later][-1] == "session.deleted"
        assert all(int(e.id) > int(applied.id) for e in later)


def test_errors_carry_the_apis_code_and_message(server: ApiServer) -> None:
    with KontextClient(server.base_url, ALICE_KEY) as kontext:
        with pytest.raises(ApiError) as missing:
            kontext.get("nosuchsession")
        assert missing.value.status_code == 404 and missing.value.code == "session_not_found"
        with pytest.raises(ApiError) as bad:
            kontext.create({"../escape.js": "x"})
        assert bad.value.status_code == 400 and "'..'" in bad.value.message
        with pytest.raises(ApiError) as stream:
            next(iter(kontext.events("nosuchsession")))
        assert stream.value.code == "session_not_found"
    with KontextClient(server.base_url, "kp-test-wrong-key-0123456789") as stranger:
        with pytest.raises(ApiError) as denied:
            stranger.get("anything")
        assert denied.value.status_code == 401


def test_the_async_client(server: ApiServer) -> None:
    async def scenario() -> list[str]:
        async with AsyncKontextClient(server.base_url, ALICE_KEY) as kontext:
            session = await kontext.create(as_mapping(project_files()))
            sid = session.sessionId
            stream = kontext.events(sid)
            first = await anext(stream)
            await kontext.update(sid, {HEADER: "export default () => <h1>async</h1>;\n"})
            status = await kontext.get(sid)
            assert status.status == "active"
            async with AsyncKontextClient(server.base_url, BOB_KEY) as bob:
                with pytest.raises(ApiError):
                    await bob.get(sid)  # another user's session is not found
            await kontext.delete(sid)
            return [first.type] + [event.type async for event in stream]

    # A thread of its own: the sync Playwright of other tests may hold this thread's loop.
    result: list[list[str]] = []
    runner = threading.Thread(target=lambda: result.append(asyncio.run(scenario())))
    runner.start()
    runner.join(120)
    (kinds,) = result
    assert kinds[0] == "update.received" or "session" in kinds[0]
    assert "update.applied" in kinds and kinds[-1] == "session.deleted"
