"""Thin Celery tasks over the node runtime's services (names: the protocol's ``*_TASK``).
Every task is idempotent: run twice (a redelivery after a worker died), it does its work
once."""

import logging

from kontext_preview import events as ev
from kontext_preview.distributed.protocol import (
    APPLY_UPDATES_TASK,
    CREATE_TASK,
    DELETE_TASK,
    REAP_EXPIRED_TASK,
    RESUME_TASK,
    node_queue,
)
from kontext_preview.distributed.registry import live_nodes
from workers.app import app, settings
from workers.runtime import get_runtime

log = logging.getLogger(__name__)


@app.task(name=CREATE_TASK)
def create_session(session_id: str, request_id: str) -> None:
    runtime = get_runtime()
    runtime.call(runtime.sessions.create(session_id, request_id))


@app.task(name=APPLY_UPDATES_TASK)
def apply_updates(session_id: str) -> None:
    """Apply whatever waits in the session's inbox (nothing, if an earlier task did)."""
    runtime = get_runtime()
    runtime.call(runtime.sessions.apply_inbox(session_id))


@app.task(name=DELETE_TASK)
def delete_session(session_id: str, request_id: str | None, reason: str) -> None:
    runtime = get_runtime()
    runtime.call(runtime.sessions.delete(session_id, request_id, reason))


@app.task(name=RESUME_TASK)
def resume_session(session_id: str) -> None:
    """Wake a hibernated session (a request reached its preview URL)."""
    runtime = get_runtime()
    runtime.call(runtime.resume(session_id))


@app.task(name=REAP_EXPIRED_TASK)
def reap_expired() -> None:
    """Beat's cull: every expired session is ended by the node that hosts it, or here if
    that node is gone. A failure for one session is logged and never stops the sweep."""
    runtime = get_runtime()

    async def sweep() -> None:
        alive = await live_nodes(runtime.redis, runtime.keys, settings.node_heartbeat_seconds)
        for session_id, node in await runtime.sessions.expired_sessions():
            try:
                if node in alive:
                    delete_session.apply_async(
                        (session_id, None, ev.SESSION_EXPIRED), queue=node_queue(node)
                    )
                else:
                    await runtime.sessions.delete(session_id, None, ev.SESSION_EXPIRED)
                log.info("session %s expired (node %s)", session_id, node or "?")
            except Exception:
                log.exception("could not expire session %s", session_id)

    runtime.call(sweep())
