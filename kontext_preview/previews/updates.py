"""Updates in flight: what a caller asked for, and what it got."""

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from kontext_preview.changes import ChangeAnalysis
from kontext_preview.deploy.base import Deployment
from kontext_preview.workspace.vfs import ChangeSet


@dataclass
class PendingUpdate:
    files: Mapping[str, bytes]
    deleted: tuple[str, ...]
    replace_all: bool
    future: "asyncio.Future[UpdateResult]"
    update_id: str = ""
    received_at: float = 0.0  # wall clock, when the API received it
    seq: int = 0  # the session's update number: 1, 2, 3… in the order received


@dataclass(frozen=True)
class UpdateResult:
    updated: list[str]
    deleted: list[str]
    unchanged: list[str]
    analysis: ChangeAnalysis
    hmr_triggered: bool  # a running preview was sent an update, a reload or injected CSS
    restarted: bool  # the dev server restarts (dependencies or layout changed)
    batch_size: int  # updates applied together with this one (1 = on its own)
    deployment: Deployment | None
    update_id: str = ""
    timings: dict[str, float] = field(default_factory=dict)  # analyzeMs, writeMs, notifyMs
    seq: int = 0


def before_and_after(
    base: Mapping[str, bytes], change_set: ChangeSet
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Only the files a change set touches, before and after it (what the analyzers compare)."""
    before = {c.path: base[c.path] for c in change_set.changes if c.event != "add"}
    after = {c.path: change_set.files[c.path] for c in change_set.changes if c.event != "unlink"}
    return before, after
