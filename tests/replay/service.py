"""A history played through kontext-preview: one session, one update per commit, the page
opened once (tests/replay/player.py judges each step)."""

import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.distributed.cluster import SseEvent, read_events
from tests.replay.history import History, as_request_files
from tests.replay.player import OpenPage, Step, fresh_load, judge_ack, settled_step
from tests.server import ApiServer

# How long the open page gets to show what the fresh load shows, once the update was
# acknowledged (or timed out) and the fresh page loaded.
CATCH_UP_MS = 20_000
# How long an update may take to be acknowledged: an install of new packages and a start.
APPLIED_TIMEOUT_S = 240


def replay(
    server: ApiServer,
    browser: Any,
    history: History,
    progress: Callable[[Step], None] = lambda step: None,
) -> list[Step]:
    """Every step of ``history`` through one session of ``server`` (each told to
    ``progress`` as it is judged)."""
    commits = history.commits()
    files = history.tree(commits[0])
    with server.client() as api:
        created = api.post(
            "/kontext/preview", params={"wait": "true"}, json={"files": as_request_files(files)}
        )
        assert created.status_code == 200, created.text
        session = created.json()
        sid, url = session["sessionId"], session["previewUrl"]
        page = OpenPage(browser, url)
        last_event: str | None = None
        steps: list[Step] = []
        try:
            first = history.first or 1
            for offset, commit in enumerate(commits[1:], start=1):
                after = history.tree(commit)
                step, last_event = _play(server, api, browser, page, sid, files, after, last_event)
                step.number, step.commit = first + offset, commit[:10]
                step.subject = history.subject(commit)[:80]
                if not step.refused:
                    files = after
                steps.append(step)
                progress(step)
        finally:
            page.close()
            api.delete(f"/kontext/preview/{sid}")
    return steps


def _play(
    server: ApiServer,
    api: httpx.Client,
    browser: Any,
    page: OpenPage,
    sid: str,
    before: dict[str, bytes],
    after: dict[str, bytes],
    last_event: str | None,
) -> tuple[Step, str | None]:
    written = {n: c for n, c in after.items() if before.get(n) != c}
    deleted = sorted(n for n in before if n not in after)
    step = Step(0, "", "", len(written) + len(deleted), False)
    page.mark()
    sent_at = time.time()
    answer = api.post(
        f"/kontext/preview/{sid}/update",
        json={"files": as_request_files(written), "deletedFiles": deleted},
    )
    if answer.status_code != 200:
        error = answer.json().get("error", {})
        step.refused = f"{answer.status_code} {error.get('code')}: {error.get('message', '')[:200]}"
    else:
        update_id = answer.json()["updateId"]
        events = read_events(
            server.base_url,
            sid,
            until=lambda e: _applied(e, update_id),
            last_event_id=last_event,
            timeout=APPLIED_TIMEOUT_S,
        )
        last_event = events[-1].id if events else last_event
        applied = next((e.data for e in events if _applied(e, update_id)), None)
        if applied is None:
            step.notes.append("no update.applied")
        else:
            step.ack, step.pages = applied["browserAck"], applied.get("pages", 0)
            if step.ack == "error":  # what the page reported: printed with the step
                step.notes.append(f"error: {str(applied.get('error'))[:200]}")
    fresh = lambda linger: fresh_load(browser, page.url, linger)  # noqa: E731
    settled_step(page, step, fresh, sent_at, CATCH_UP_MS)
    # The page shows an error: its overlay, a failure page, or nothing (an app that threw).
    shown = step.fresh if step.equal else step.live
    judge_ack(step, shown)
    return step, last_event


def _applied(event: SseEvent, update_id: str) -> bool:
    return event.type == "update.applied" and event.data.get("updateId") == update_id
