"""Bursts of updates: coalesced while one is being applied, never delayed when alone.

The service is the thing under test; its sandbox is a neighbour, replaced by a
recording fake whose notify can be held open to make a burst deterministic.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kontext_preview.config import Settings
from kontext_preview.errors import InvalidFileName
from kontext_preview.previews.engine import SessionEngine
from kontext_preview.previews.session import SessionStatus
from kontext_preview.sandbox.base import (
    Endpoint,
    EventSink,
    LogSink,
    NotifyResult,
    Prepared,
    Sandbox,
    SandboxBackend,
    SandboxSpec,
    ToolPaths,
)
from kontext_preview.workspace.vfs import FileChange

PROJECT = {
    "index.html": b"<div id=root></div><script type=module src=/main.js></script>",
    "main.js": b"import './style.css'; document.title = 'one'",
    "style.css": b"body { color: red; }",
}


class RecordingSandbox(Sandbox):
    def __init__(self) -> None:
        self.endpoint = Endpoint("127.0.0.1", 1)
        self.notified: list[list[FileChange]] = []
        self.injected: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()
        self._exit: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def wait(self) -> int:
        return await self._exit

    async def notify(self, changes: Sequence[FileChange], *, fresh: bool = False) -> NotifyResult:
        self.notified.append(list(changes))
        self.entered.set()
        await self.gate.wait()
        return NotifyResult(affected=[c.path for c in changes])

    async def inject_css(self, paths: Sequence[str]) -> NotifyResult:
        self.injected.append(list(paths))
        return NotifyResult(affected=[], injected=list(paths))

    async def announce_restart(self, seq: int) -> NotifyResult:
        return NotifyResult(affected=[], seq=seq, clients=0)

    async def stop(self, now: bool = False) -> None:
        if not self._exit.done():
            self._exit.set_result(0)


class RecordingBackend(SandboxBackend):
    name = "recording"

    def __init__(self) -> None:
        self.sandboxes: list[RecordingSandbox] = []

    async def prepare(self, spec: SandboxSpec, log: LogSink) -> Prepared:
        return Prepared()

    async def start(
        self, spec: SandboxSpec, log: LogSink, report: EventSink | None = None
    ) -> Sandbox:
        sandbox = RecordingSandbox()
        self.sandboxes.append(sandbox)
        return sandbox

    def tool_paths(self, spec: SandboxSpec, out: Path) -> ToolPaths:
        raise NotImplementedError("these tests deploy nothing")

    async def run_tool(
        self, spec: SandboxSpec, out: Path, args: Sequence[str], cwd: Path, on_line: LogSink
    ) -> int:
        raise NotImplementedError("these tests deploy nothing")


def run(tmp_path: Path, scenario: Callable[[SessionEngine], Awaitable[None]]) -> None:
    """Run a scenario on its own event loop in a worker thread: the session-scoped
    Playwright browser keeps a loop running in the main thread."""

    async def main() -> None:
        service = SessionEngine(Settings(data_dir=tmp_path), RecordingBackend())
        try:
            await scenario(service)
        finally:
            await service.shutdown()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, main()).result()


async def active_session(service: SessionEngine) -> tuple[str, RecordingSandbox]:
    session = await service.create(PROJECT)
    await service.wait_settled(session, 5)
    assert session.status is SessionStatus.ACTIVE
    backend = service.backend
    assert isinstance(backend, RecordingBackend)
    return session.id, backend.sandboxes[-1]


def test_an_isolated_update_is_applied_at_once(tmp_path: Path) -> None:
    run(tmp_path, _an_isolated_update_is_applied_at_once)


async def _an_isolated_update_is_applied_at_once(service: SessionEngine) -> None:
    sid, sandbox = await active_session(service)
    result = await service.update(sid, {"main.js": b"document.title = 'two'"})
    assert result.batch_size == 1
    assert sandbox.notified == [[FileChange("main.js", "change")]]


def test_updates_arriving_during_an_apply_are_coalesced(tmp_path: Path) -> None:
    run(tmp_path, _updates_arriving_during_an_apply_are_coalesced)


async def _updates_arriving_during_an_apply_are_coalesced(service: SessionEngine) -> None:
    sid, sandbox = await active_session(service)
    sandbox.gate.clear()
    first = asyncio.create_task(service.update(sid, {"main.js": b"document.title = 'a'"}))
    await sandbox.entered.wait()  # the first update is being applied, its notify held open
    burst = [
        asyncio.create_task(
            service.update(sid, {f"burst/{i}.js": f"export const n = {i}".encode()})
        )
        for i in range(5)
    ]
    rewrite = asyncio.create_task(service.update(sid, {"main.js": b"document.title = 'z'"}))
    await asyncio.sleep(0.05)
    assert len(sandbox.notified) == 1  # nothing else applied while the first is in flight
    sandbox.gate.set()
    results = await asyncio.gather(first, *burst, rewrite)

    assert results[0].batch_size == 1
    assert {r.batch_size for r in results[1:]} == {6}
    assert len(sandbox.notified) == 2  # one notification for the whole burst
    second = {(c.path, c.event) for c in sandbox.notified[1]}
    assert second == {*((f"burst/{i}.js", "add") for i in range(5)), ("main.js", "change")}
    files = service.get(sid).vfs.files
    assert files["main.js"] == b"document.title = 'z'"
    assert all(f"burst/{i}.js" in files for i in range(5))
    assert results[-1].updated == ["main.js"]


def test_a_rejected_update_in_a_burst_fails_alone(tmp_path: Path) -> None:
    run(tmp_path, _a_rejected_update_in_a_burst_fails_alone)


async def _a_rejected_update_in_a_burst_fails_alone(service: SessionEngine) -> None:
    sid, sandbox = await active_session(service)
    sandbox.gate.clear()
    first = asyncio.create_task(service.update(sid, {"main.js": b"1"}))
    await sandbox.entered.wait()
    good = asyncio.create_task(service.update(sid, {"ok.js": b"2"}))
    bad = asyncio.create_task(service.update(sid, {"../escape.js": b"3"}))
    also_good = asyncio.create_task(service.update(sid, {"ok2.js": b"4"}))
    sandbox.gate.set()
    await first
    assert (await good).batch_size == 2 and (await also_good).batch_size == 2
    with pytest.raises(InvalidFileName):
        await bad
    assert "../escape.js" not in service.get(sid).vfs.files


def test_a_stylesheet_only_update_is_injected(tmp_path: Path) -> None:
    run(tmp_path, _a_stylesheet_only_update_is_injected)


async def _a_stylesheet_only_update_is_injected(service: SessionEngine) -> None:
    sid, sandbox = await active_session(service)
    result = await service.update(sid, {"style.css": b"body { color: blue; }"})
    assert result.analysis.strategy.value == "css-injection"
    assert sandbox.injected == [["style.css"]] and sandbox.notified == []


def test_a_burst_is_as_severe_as_its_worst_update(tmp_path: Path) -> None:
    run(tmp_path, _a_burst_is_as_severe_as_its_worst_update)


async def _a_burst_is_as_severe_as_its_worst_update(service: SessionEngine) -> None:
    sid, sandbox = await active_session(service)
    sandbox.gate.clear()
    first = asyncio.create_task(service.update(sid, {"main.js": b"document.title = 'x'"}))
    await sandbox.entered.wait()
    css = asyncio.create_task(service.update(sid, {"style.css": b"body { color: green; }"}))
    backend = asyncio.create_task(service.update(sid, {"backend/main.mo": b"actor {}"}))
    sandbox.gate.set()
    await first
    css_result, backend_result = await css, await backend
    assert css_result.analysis.strategy.value == "css-injection"  # its own analysis
    assert backend_result.deployment is not None and css_result.deployment is not None
    assert sandbox.injected == []  # the batch as a whole went through Vite's HMR
