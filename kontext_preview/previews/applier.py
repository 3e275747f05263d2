"""The update path: validate, write only what changed, tell the dev server, analyse.

Updates are serialized per session. An update that finds the session idle starts
at once; updates that arrive while one is being applied are applied together in
the next batch (one write, one notification), and each still gets its own
answer (a rejected update fails alone). No timer delays anything.

What the browser waits for comes first: the files are written and Vite told
before the change is analysed, unless a stylesheet changed (the analysis chooses
between CSS injection and Vite's HMR, and anything but a stylesheet goes to Vite
either way). A change to the layout or to the dependencies relaunches the dev
server; so does any update to a failed or hibernated session (the AI fixes a
broken vite.config by sending a new one). A ``full-deploy`` change queues a
deployment.
"""

import asyncio
import logging
import time
from collections.abc import Mapping

from kontext_preview.changes import ChangeAnalysis, ChangePolicy, Strategy, analyze
from kontext_preview.changes.imports import untracked_dependents, value_import_candidates
from kontext_preview.changes.kinds import FileKind, file_kind
from kontext_preview.changes.model import most_severe
from kontext_preview.contract import SessionStatus
from kontext_preview.deploy.base import DeploymentQueue
from kontext_preview.errors import KontextError, SandboxError
from kontext_preview.previews.acks import AckTracker
from kontext_preview.previews.session import PreviewSession
from kontext_preview.previews.supervisor import Supervisor, queue_deployment
from kontext_preview.previews.updates import PendingUpdate, UpdateResult, before_and_after
from kontext_preview.sandbox.base import NotifyResult
from kontext_preview.workspace.layout import (
    ProjectLayout,
    dependency_sections,
    detect_layout,
    read_package_json,
)
from kontext_preview.workspace.vfs import ChangeSet, FileChange

log = logging.getLogger(__name__)


class UpdateApplier:
    def __init__(
        self,
        policy: ChangePolicy,
        supervisor: Supervisor,
        acks: AckTracker,
        deployments: DeploymentQueue,
        analysis_max_bytes: int,
        analysis_budget_seconds: float | None = None,
    ):
        self.policy = policy
        self.analysis_max_bytes = analysis_max_bytes
        self.analysis_budget_seconds = analysis_budget_seconds
        self.supervisor = supervisor
        self.acks = acks
        self.deployments = deployments

    async def submit(self, session: PreviewSession, update: PendingUpdate) -> UpdateResult:
        """Queue an update for the session's next batch and wait for its result."""
        session.pending.append(update)
        if session.applier is None or session.applier.done():
            session.applier = asyncio.create_task(self._apply_pending(session))
        return await asyncio.shield(update.future)

    async def _apply_pending(self, session: PreviewSession) -> None:
        while session.pending:
            batch, session.pending = session.pending, []
            try:
                async with session.lock:
                    await self.apply_batch(session, batch)
            except BaseException as exc:
                error = exc if isinstance(exc, Exception) else KontextError("update interrupted")
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(error)
                if not isinstance(exc, Exception):
                    raise

    async def apply_batch(self, session: PreviewSession, batch: list[PendingUpdate]) -> None:
        """Apply updates together: one write and one notification for all of them. Every
        update's future gets its result or its own error. Call with ``session.lock`` held."""
        started = time.perf_counter()
        state, layout = session.vfs.files, session.layout
        accepted: list[tuple[PendingUpdate, ChangeSet, dict[str, bytes]]] = []
        for pending in batch:
            try:
                change_set = session.vfs.plan(
                    pending.files, pending.deleted, replace_all=pending.replace_all, base=state
                )
                new_layout = (
                    await detect_layout_off_loop(change_set.files)
                    if _may_move_layout(change_set)
                    else layout
                )
            except KontextError as exc:
                pending.future.set_exception(exc)  # this request only; the rest go on
                continue
            accepted.append((pending, change_set, state))
            state, layout = change_set.files, new_layout
        if not accepted:
            return
        written = time.perf_counter()
        original, combined = session.vfs.files, session.vfs.diff(state)
        restart = _needs_restart(session, layout, combined)
        # Files Vite would leave stale (imports resolving elsewhere, `composes`): shown as
        # changed too, so that the live page is what a fresh load shows (issue 18).
        stale = untracked_dependents(original, state, [c.path for c in combined.changes])
        shown_changes = combined.changes + [FileChange(name, "change") for name in stale]
        if combined.changes:
            self.supervisor.drop_snapshot(session)
        session.vfs.apply(combined)
        session.layout = layout
        timings = {"writeMs": _ms(written)}
        restart_seq = -accepted[-1][0].seq  # the pages' reload after a restart acknowledges it
        # How the pages get the change depends on its stylesheets alone (injected, or
        # Vite's HMR): they are analyzed first, by themselves, and the whole change after
        # the pages have it, so that analysis never holds up the preview (issue 18).
        injection = self._injection(original, combined)
        shown = await self._bring_up_to_date(
            session, shown_changes, restart, injection, timings, restart_seq
        )
        analyses = [self._analyze(before, change_set) for _, change_set, before in accepted]
        strategy = most_severe(a.strategy for a, _ in analyses)
        deployment = None
        if strategy is Strategy.FULL_DEPLOY:
            reasons = [f"{f.name}: {f.change_class}" for a, _ in analyses for f in a.deciding]
            deployment = queue_deployment(self.deployments, session, reasons)
        log.debug("session %s: batch of %d in %.1f ms", session.id, len(batch), _ms(started))
        results = []
        for (pending, change_set, _), (analysis, analyze_ms) in zip(
            accepted, analyses, strict=True
        ):
            result = UpdateResult(
                change_set.written,
                change_set.deleted,
                change_set.unchanged,
                analysis,
                shown.reached,
                restart,
                len(accepted),
                deployment,
                pending.update_id,
                {"analyzeMs": analyze_ms, **timings},
                pending.seq,
            )
            results.append((pending, result))
        self.acks.report_applied(session, shown, results)
        for pending, result in results:
            pending.future.set_result(result)

    def _injection(self, before: Mapping[str, bytes], change: ChangeSet) -> Strategy | None:
        """css-injection if the change edits stylesheets only and the policy injects every
        one of them (the modules that may import one as a value are looked at too), as the
        whole change's analysis would say; else None (Vite's HMR shows all of it)."""
        sheets = [c.path for c in change.changes]
        if not sheets or any(
            c.event != "change" or file_kind(c.path) is not FileKind.STYLESHEET
            for c in change.changes
        ):
            return None
        names = sheets + value_import_candidates(change.files, sheets)
        old = {n: before[n] for n in names if n in before}
        analysis = analyze(old, {n: change.files[n] for n in names}, self.policy)
        strategies = {f.strategy for f in analysis.files if f.name in sheets}
        return Strategy.CSS_INJECTION if strategies == {Strategy.CSS_INJECTION} else None

    def _analyze(
        self, before: dict[str, bytes], change_set: ChangeSet
    ) -> tuple[ChangeAnalysis, float]:
        began = time.perf_counter()
        old, new = before_and_after(before, change_set)
        analysis = analyze(
            old,
            new,
            self.policy,
            max_bytes=self.analysis_max_bytes,
            budget_seconds=self.analysis_budget_seconds,
        )
        return analysis, _ms(began)

    async def _bring_up_to_date(
        self,
        session: PreviewSession,
        changes: list[FileChange],
        restart: bool,
        strategy: Strategy | None,
        timings: dict[str, float],
        restart_seq: int,
    ) -> NotifyResult:
        """(Re)start the sandbox if it must, else show the changes (``strategy`` None: by
        Vite's HMR); ``notifyMs`` goes into ``timings``. Before a running dev server is
        replaced its pages are told, so that they acknowledge ``restart_seq`` once reloaded
        from the next one."""
        began = time.perf_counter()
        shown = NotifyResult(affected=[])
        if restart or session.status in (SessionStatus.FAILED, SessionStatus.HIBERNATED):
            # The pages see the update once loaded again from the next dev server: those
            # open now are told (and the proxy holds them meanwhile), those showing a status
            # page follow it there; all acknowledge ``restart_seq`` to that dev server.
            shown = NotifyResult(affected=[], seq=restart_seq)
            if session.status is SessionStatus.ACTIVE and session.sandbox:
                try:
                    shown = await session.sandbox.announce_restart(restart_seq)
                except SandboxError as exc:
                    session.log(f"could not tell the pages of the restart: {exc.message}")
            self.supervisor.launch(session, for_update=restart_seq)
        elif session.status is SessionStatus.ACTIVE and session.sandbox:
            # Nothing changed is still asked: the answer counts the pages open (unaffected).
            shown = await _show(session, changes, strategy or Strategy.PREVIEW_UPDATE)
        timings["notifyMs"] = _ms(began)
        return shown


async def _show(
    session: PreviewSession, changes: list[FileChange], strategy: Strategy
) -> NotifyResult:
    """Bring running previews up to date: inject CSS, or let Vite's HMR do it."""
    assert session.sandbox
    try:
        if strategy is Strategy.CSS_INJECTION:
            stylesheets = [c.path for c in changes if c.event == "change"]
            others = [c for c in changes if c.event != "change"]
            injected = await session.sandbox.inject_css(stylesheets)
            if not others:
                return injected
            notified = await session.sandbox.notify(others)
            return NotifyResult(
                injected.affected + notified.affected,
                injected.injected,
                injected.seq if injected.seq is not None else notified.seq,
                max(injected.clients, notified.clients),
            )
        return await session.sandbox.notify(changes)
    except SandboxError as exc:
        session.log(f"notify failed: {exc.message}")
        return NotifyResult(affected=[])


def _needs_restart(session: PreviewSession, layout: ProjectLayout, change_set: ChangeSet) -> bool:
    if layout != session.layout:
        return True
    meta = layout.meta
    if meta is not None and meta.config_restarts_process:
        configs = {layout.path(layout.package_dir, name) for name in meta.config_files}
        if any(c.path in configs for c in change_set.changes):
            return True
    if not any(c.path == layout.package_json_path for c in change_set.changes):
        return False
    old = read_package_json(session.vfs.files, layout.package_dir)
    new = read_package_json(change_set.files, layout.package_dir)
    return dependency_sections(old) != dependency_sections(new)


async def detect_layout_off_loop(files: Mapping[str, bytes]) -> ProjectLayout:
    """detect_layout off the event loop: a package.json not seen before is checked by a
    Node process (npm's spec parser, about 60 ms), which must not hold up other sessions."""
    return await asyncio.to_thread(detect_layout, files)


def _may_move_layout(change_set: ChangeSet) -> bool:
    """A layout depends on which files exist and on what package.json files hold: edits of
    other files' content (most updates) leave it as it was."""
    return any(
        c.event != "change" or c.path.rsplit("/", 1)[-1] == "package.json"
        for c in change_set.changes
    )


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
