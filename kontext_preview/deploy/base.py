"""Full deployments: a queue per session in front of a :class:`Deployer` pipeline.

The update path queues a deployment when an update's strategy is ``full-deploy``
(backend, dependency or structural changes), and the service queues one as the
fallback when a session's preview cannot serve. :class:`DeploymentQueue` runs
them one at a time per session; a newer request supersedes a queued older one
(it carries the newer files and both reasons), so a burst of AI edits builds
once. Every step is reported through ``report(session_id, event, data)``, which
the service turns into ``deploy.*`` session events.

A :class:`Deployer` runs one deployment: the built-in ``local`` pipeline
(``kontext_preview.deploy.local``: Motoko type-check, production ``vite build``,
published under its own origin) or an operator's ``command``
(``kontext_preview.deploy.command``, e.g. ``dfx deploy``).
"""

import asyncio
import contextlib
import hashlib
import logging
import secrets
import shutil
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kontext_preview import events as ev
from kontext_preview.event_models import Diagnostic
from kontext_preview.logs import plain
from kontext_preview.sandbox.process import BACKGROUND_NICENESS, run_to_end

log = logging.getLogger(__name__)

QUEUED, RUNNING, SUCCEEDED, FAILED, SUPERSEDED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "superseded",
)


@dataclass
class Deployment:
    id: str
    session_id: str
    status: str  # queued | running | succeeded | failed | superseded
    queued_at: float
    reasons: list[str] = field(default_factory=list)
    fallback: bool = False  # queued because the preview could not serve
    started_at: float | None = None
    finished_at: float | None = None
    url: str | None = None
    error: str | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)


@dataclass(frozen=True)
class DeployJob:
    """What a deployer builds: a snapshot of the session's files when it was queued."""

    deployment: Deployment
    files: Mapping[str, bytes]
    vite_root: str  # folder of index.html ("" at the top)
    package_dir: str  # folder of the package.json the frontend uses
    add_react_plugin: bool = False  # as for the preview: React without a vite.config


@dataclass
class DeployResult:
    url: str | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)


class DeployFailed(Exception):
    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None):
        super().__init__(message)
        self.message = message
        self.diagnostics = diagnostics or []


Progress = Callable[[str], None]
PROGRESS_EVERY_SECONDS = 0.5  # deploy.progress: the lines of each half second in one event
Reporter = Callable[[str, str, dict[str, Any]], None]  # (session id, event type, data)


class Deployer(ABC):
    """Runs one deployment; raises :class:`DeployFailed` with what a person can act on."""

    name = "deployer"

    @abstractmethod
    async def run(self, job: DeployJob, progress: Progress) -> DeployResult: ...

    async def forget(self, session_id: str) -> None:
        """Remove what was published for a session that has ended."""
        return None


class RecordOnly(Deployer):
    """``KONTEXT_DEPLOYER=none``: record deployments, build nothing (the chat app deploys)."""

    name = "none"

    async def run(self, job: DeployJob, progress: Progress) -> DeployResult:
        progress("no deployer is configured (KONTEXT_DEPLOYER=none): nothing was built")
        return DeployResult()


@dataclass
class _SessionQueue:
    history: list[Deployment] = field(default_factory=list)
    waiting: DeployJob | None = None
    waiting_digest: str = ""  # the waiting job's build_digest
    runner: asyncio.Task[None] | None = None
    last_queued: float = 0.0  # monotonic
    published: tuple[str, Deployment] | None = None  # the last succeeded job's digest


async def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything under it, in a thread, to the end even when the
    caller is cancelled (a thread cannot be stopped: a cancelled caller that went on
    while it ran would race the session's own removal, and two rmtrees of one tree can
    leave an empty folder behind)."""
    removal = asyncio.ensure_future(asyncio.to_thread(shutil.rmtree, path, True))
    try:
        await asyncio.shield(removal)
    except asyncio.CancelledError:
        await removal
        raise


def build_digest(
    files: Mapping[str, bytes], vite_root: str, package_dir: str, add_react_plugin: bool
) -> str:
    """What a deployment builds, as one sha256: its files and how they are built."""
    digest = hashlib.sha256(f"{vite_root}\0{package_dir}\0{add_react_plugin}".encode())
    for name in sorted(files):
        digest.update(b"\0" + name.encode() + b"\0")
        digest.update(hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


class DeploymentQueue:
    """One deployment at a time per session; the newest queued request wins.

    A deployment waits for a quiet moment: it starts ``quiet_seconds`` after the session's
    last queued one (each newer request restarts the wait and supersedes the waiting one),
    so a chat's burst of edits is built once; a fallback (the preview cannot serve) does
    not wait. A request whose files are those of the session's last published deployment
    is not built again: the answer is that deployment. Progress lines are sent in batches,
    at most one ``deploy.progress`` every PROGRESS_EVERY_SECONDS."""

    def __init__(
        self, deployer: Deployer, report: Reporter, keep: int = 20, quiet_seconds: float = 0.0
    ):
        self.deployer = deployer
        self.report = report
        self.keep = keep
        self.quiet_seconds = quiet_seconds
        self._queues: dict[str, _SessionQueue] = {}

    def queue(
        self,
        session_id: str,
        files: Mapping[str, bytes],
        vite_root: str,
        package_dir: str,
        reasons: list[str],
        *,
        fallback: bool = False,
        add_react_plugin: bool = False,
    ) -> Deployment:
        state = self._queues.setdefault(session_id, _SessionQueue())
        digest = build_digest(files, vite_root, package_dir, add_react_plugin)
        older = state.waiting.deployment if state.waiting else None
        if state.published is not None and state.published[0] == digest:
            published = state.published[1]
            if older is not None:  # back to what is published: nothing left to build
                state.waiting = None
                older.status, older.finished_at = SUPERSEDED, time.time()
                self.report(
                    session_id, ev.DEPLOY_SUPERSEDED, {"deploymentId": older.id, "by": published.id}
                )
            log.info("session %s: deployment %s has these files already", session_id, published.id)
            return published
        if older is not None:
            reasons = older.reasons + [r for r in reasons if r not in older.reasons]
            fallback = fallback or older.fallback
        deployment = Deployment(
            secrets.token_hex(8), session_id, QUEUED, time.time(), list(reasons), fallback
        )
        if older is not None:
            older.status, older.finished_at = SUPERSEDED, time.time()
            self.report(
                session_id,
                ev.DEPLOY_SUPERSEDED,
                {"deploymentId": older.id, "by": deployment.id},
            )
        state.history.append(deployment)
        del state.history[: -self.keep]
        state.waiting = DeployJob(deployment, dict(files), vite_root, package_dir, add_react_plugin)
        state.waiting_digest = digest
        state.last_queued = time.monotonic()
        self.report(
            session_id,
            ev.DEPLOY_QUEUED,
            {"deploymentId": deployment.id, "reasons": deployment.reasons, "fallback": fallback},
        )
        if state.runner is None or state.runner.done():
            state.runner = asyncio.create_task(self._run_queue(session_id, state))
        return deployment

    def deployments(self, session_id: str) -> list[Deployment]:
        state = self._queues.get(session_id)
        return list(state.history) if state else []

    def latest_url(self, session_id: str) -> str | None:
        for deployment in reversed(self.deployments(session_id)):
            if deployment.status == SUCCEEDED and deployment.url:
                return deployment.url
        return None

    async def forget(self, session_id: str) -> None:
        state = self._queues.pop(session_id, None)
        if state and state.runner and not state.runner.done():
            state.runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await state.runner
        try:
            await self.deployer.forget(session_id)
        except Exception:
            log.exception("session %s: could not remove its deployments", session_id)

    async def aclose(self) -> None:
        for session_id in list(self._queues):
            state = self._queues[session_id]
            if state.runner and not state.runner.done():
                state.runner.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await state.runner

    async def _run_queue(self, session_id: str, state: _SessionQueue) -> None:
        while state.waiting is not None:
            if (left := self._quiet_left(state)) > 0:
                await asyncio.sleep(left)  # a newer request moves last_queued on: look again
                continue
            job, digest, state.waiting = state.waiting, state.waiting_digest, None
            await self._run_one(session_id, job)
            if job.deployment.status == SUCCEEDED:
                state.published = (digest, job.deployment)

    async def _run_one(self, session_id: str, job: DeployJob) -> None:
        deployment = job.deployment
        deployment.status, deployment.started_at = RUNNING, time.time()
        self.report(
            session_id,
            ev.DEPLOY_STARTED,
            {"deploymentId": deployment.id, "deployer": self.deployer.name},
        )

        lines: list[str] = []
        flushing: list[asyncio.TimerHandle] = []

        def flush() -> None:
            flushing.clear()
            if lines:
                data = {
                    "deploymentId": deployment.id,
                    "line": "\n".join(lines),
                    "lines": len(lines),
                }
                lines.clear()
                self.report(session_id, ev.DEPLOY_PROGRESS, data)

        def progress(line: str) -> None:
            lines.append(line)
            if not flushing:
                loop = asyncio.get_running_loop()
                flushing.append(loop.call_later(PROGRESS_EVERY_SECONDS, flush))

        try:
            result = await self._run_deployer(job, progress, flush, flushing)
        except asyncio.CancelledError:
            deployment.status, deployment.error = FAILED, "cancelled: the session ended"
            raise
        except DeployFailed as exc:
            self._finish(deployment, FAILED, error=exc.message, diagnostics=exc.diagnostics)
        except Exception as exc:
            log.exception("session %s: deployment %s crashed", session_id, deployment.id)
            self._finish(deployment, FAILED, error=f"internal error: {type(exc).__name__}: {exc}")
        else:
            self._finish(deployment, SUCCEEDED, url=result.url, diagnostics=result.diagnostics)

    def _quiet_left(self, state: _SessionQueue) -> float:
        """Seconds until the waiting deployment may start (a fallback does not wait)."""
        if state.waiting is None or state.waiting.deployment.fallback:
            return 0.0
        return state.last_queued + self.quiet_seconds - time.monotonic()

    async def _run_deployer(
        self,
        job: DeployJob,
        progress: Progress,
        flush: Callable[[], None],
        flushing: list[asyncio.TimerHandle],
    ) -> DeployResult:
        """The deployer's run, its last progress lines sent before its outcome."""
        try:
            return await self.deployer.run(job, progress)
        finally:
            for timer in flushing:
                timer.cancel()
            flush()

    def _finish(
        self,
        deployment: Deployment,
        status: str,
        *,
        url: str | None = None,
        error: str | None = None,
        diagnostics: list[Diagnostic] | None = None,
    ) -> None:
        deployment.status, deployment.finished_at = status, time.time()
        deployment.url, deployment.error = url, error
        deployment.diagnostics = diagnostics or []
        took = round((deployment.finished_at - (deployment.started_at or 0)) * 1000)
        data: dict[str, Any] = {
            "deploymentId": deployment.id,
            "durationMs": took,
            "diagnostics": [d.model_dump(exclude_unset=True) for d in deployment.diagnostics],
        }
        if status == SUCCEEDED:
            self.report(deployment.session_id, ev.DEPLOY_SUCCEEDED, {**data, "url": url})
        else:
            self.report(deployment.session_id, ev.DEPLOY_FAILED, {**data, "error": error})


LineSink = Callable[[str], None]


async def run_step(
    argv: list[str],
    cwd: Path,
    env: dict[str, str],
    limit_seconds: float,
    what: str,
    on_line: LineSink,
) -> None:
    """Run one deployment step as a process of this machine, in a group of its own (see
    :func:`follow_step`)."""

    async def run(line: LineSink) -> int:
        try:
            return await run_to_end(argv, cwd, env, line, niceness=BACKGROUND_NICENESS)
        except OSError as exc:
            raise DeployFailed(f"could not run {what} ({argv[0]}): {exc.strerror}") from None

    await follow_step(run, limit_seconds, what, on_line)


async def follow_step(
    run: Callable[[LineSink], Awaitable[int]],
    limit_seconds: float,
    what: str,
    on_line: LineSink,
    readable: Callable[[str], str | None] = lambda line: line,
) -> None:
    """Run one deployment step (``run`` gives its output line by line and returns its exit
    code). Every line reaches ``on_line`` as plain text (terminal colours taken out, by
    ``logs.plain``). A step past ``limit_seconds`` is cancelled (``run`` stops what it
    started); a failed step raises :class:`DeployFailed` with the last lines of its output
    as ``readable`` puts them (None: a line not worth repeating)."""
    tail: deque[str] = deque(maxlen=5)

    def line(text: str) -> None:
        text = plain(text)
        if (shown := readable(text)) and (not tail or tail[-1] != shown):
            tail.append(shown)
        on_line(text)

    try:
        async with asyncio.timeout(limit_seconds):
            code = await run(line)
    except TimeoutError:
        raise DeployFailed(
            f"{what} ran longer than {limit_seconds:g} s "
            "(KONTEXT_DEPLOY_TIMEOUT_SECONDS) and was stopped"
        ) from None
    if code != 0:
        raise DeployFailed(f"{what} failed (exit code {code}): " + " | ".join(tail))
