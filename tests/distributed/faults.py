"""Fault injection for distributed tests, loaded into a worker with Celery's ``--include``.

* KONTEXT_TEST_HOLD=<file>: while that file exists, an applied batch stops after the
  files are written and Vite is told, before the commit to Redis, and says so in a
  ``.held`` file next to it (the test then kills the worker).
* KONTEXT_TEST_NO_WAKE=1: the node ignores the API's pub/sub nudge, so updates reach
  it only as Celery tasks.
"""

import asyncio
import os
from pathlib import Path
from typing import Any

from kontext_preview.previews.service import PreviewService
from workers.runtime import NodeRuntime

_apply_batch = PreviewService.apply_batch
HOLD = Path(os.environ.get("KONTEXT_TEST_HOLD", "/nonexistent"))


def _hold_here(batch: Any) -> bool:
    if not HOLD.exists():
        return False
    partial = HOLD.with_suffix(".partial")  # written whole, then renamed: the test reads it
    partial.write_text(",".join(p.update_id for p in batch))
    partial.rename(HOLD.with_suffix(".held"))
    return True


async def _held_apply_batch(self: PreviewService, session: Any, batch: Any) -> None:
    await _apply_batch(self, session, batch)
    if _hold_here(batch):
        await asyncio.Event().wait()  # until the test kills this process


async def _no_wakes(self: NodeRuntime) -> None:
    return None


PreviewService.apply_batch = _held_apply_batch  # type: ignore[method-assign]
if os.environ.get("KONTEXT_TEST_NO_WAKE"):
    NodeRuntime._listen_for_wakes = _no_wakes  # type: ignore[method-assign]
