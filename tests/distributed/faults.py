"""Fault injection for distributed tests, loaded into a worker with Celery's ``--include``.

* KONTEXT_TEST_HOLD=<file>: while that file exists, an applied batch stops after the
  files are written and Vite is told, before the commit to Redis, and says so (the
  batch's request ids) in a ``.held`` file next to it (the test then kills the worker).
* KONTEXT_TEST_NO_WAKE=1: the node ignores the API's pub/sub nudge, so updates reach
  it only as Celery tasks.
"""

import asyncio
import os
from pathlib import Path
from typing import Any

from workers.node_sessions import NodeSessions
from workers.runtime import NodeRuntime

_apply_requests = NodeSessions.apply_requests
HOLD = Path(os.environ.get("KONTEXT_TEST_HOLD", "/nonexistent"))


def _hold_here(request_ids: list[str]) -> bool:
    if not HOLD.exists():
        return False
    partial = HOLD.with_suffix(".partial")  # written whole, then renamed: the test reads it
    partial.write_text(",".join(request_ids))
    partial.rename(HOLD.with_suffix(".held"))
    return True


async def _held_apply_requests(self: NodeSessions, session_id: str, requests: Any) -> Any:
    outcomes = await _apply_requests(self, session_id, requests)
    if _hold_here([request_id for request_id, _, _ in requests]):
        await asyncio.Event().wait()  # until the test kills this process
    return outcomes


async def _no_wakes(self: NodeRuntime) -> None:
    return None


NodeSessions.apply_requests = _held_apply_requests  # type: ignore[method-assign]
if os.environ.get("KONTEXT_TEST_NO_WAKE"):
    NodeRuntime._listen_for_wakes = _no_wakes  # type: ignore[method-assign]
