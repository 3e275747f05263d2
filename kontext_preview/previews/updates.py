"""Updates in flight: what a caller asked for, what it got, and what its events carry.

What ``update.applied`` carries and an update's outcome
(:class:`~kontext_preview.contract.UpdateOutcome`) are built here and nowhere
else, for both modes (``update.received``: :func:`kontext_preview.events.received_event`).
"""

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kontext_preview.changes import ChangeAnalysis
from kontext_preview.changes.config_deps import config_files
from kontext_preview.changes.imports import value_import_candidates
from kontext_preview.changes.kinds import is_css
from kontext_preview.changes.schemas import file_changes
from kontext_preview.contract import DeploymentFacts, UpdateOutcome
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


def applied_event(pending: PendingUpdate, result: UpdateResult) -> dict[str, Any]:
    """The data of ``update.applied`` before a browser acknowledges it (``browserAck``
    "none"; :class:`~kontext_preview.previews.acks.AckTracker` completes it). Times in ms;
    ``serverMs``: from the API's receipt until now."""
    return {
        "updateId": result.update_id,
        "seq": result.seq,
        "updated": result.updated,
        "deleted": result.deleted,
        "strategy": result.analysis.strategy.value,
        "batchSize": result.batch_size,
        "hmrTriggered": result.hmr_triggered,
        "restarted": result.restarted,
        "timings": {
            **result.timings,
            "serverMs": round((time.time() - pending.received_at) * 1000, 2),
        },
        "browserAppliedMs": None,
        "browserAck": "none",
    }


def deployment_facts(deployment: Deployment) -> DeploymentFacts:
    return DeploymentFacts(
        id=deployment.id,
        status=deployment.status,
        queuedAt=deployment.queued_at,
        reasons=list(deployment.reasons),
        fallback=deployment.fallback,
        startedAt=deployment.started_at,
        finishedAt=deployment.finished_at,
        url=deployment.url,
        error=deployment.error,
        diagnostics=deployment.diagnostics,  # validated as Diagnostic
    )


def update_outcome(result: UpdateResult, status: str) -> UpdateOutcome:
    """What an update did, as the verb answers it (``status``: the session's, after it)."""
    return UpdateOutcome(
        updateId=result.update_id,
        seq=result.seq,
        updated=result.updated,
        deleted=result.deleted,
        unchanged=result.unchanged,
        hmrTriggered=result.hmr_triggered,
        restarted=result.restarted,
        status=status,
        strategy=result.analysis.strategy.value,
        changes=file_changes(result.analysis),
        batchSize=result.batch_size,
        timings=result.timings,
        deploy=deployment_facts(result.deployment) if result.deployment else None,
    )


def before_and_after(
    base: Mapping[str, bytes], change_set: ChangeSet
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The files a change set touches, before and after it (what the analyzers compare),
    plus the config files that import others (``vite.config.*``, ``tailwind.config.*``:
    the same on both sides, so not a change), which tell what feeds the dev server's
    config (:mod:`kontext_preview.changes.config_deps`), and the modules that may import a
    changed stylesheet as a value (``?raw``: :mod:`kontext_preview.changes.imports`)."""
    before = {c.path: base[c.path] for c in change_set.changes if c.event != "add"}
    after = {c.path: change_set.files[c.path] for c in change_set.changes if c.event != "unlink"}
    stylesheets = [c.path for c in change_set.changes if c.event == "change" and is_css(c.path)]
    unchanged = config_files(change_set.files)
    unchanged += value_import_candidates(change_set.files, stylesheets)
    for name in unchanged:
        if name in base:
            before.setdefault(name, base[name])
        after.setdefault(name, change_set.files[name])
    return before, after
