"""Helpers for child processes we start: JSON-line output and stopping a whole process group."""

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from kontext_preview.sandbox.protocol import AgentEvent, Log, agent_event


async def text_lines(stream: asyncio.StreamReader) -> AsyncIterator[str]:
    """A stream's lines, decoded (invalid UTF-8 replaced), without line ends."""
    while raw := await stream.readline():
        yield raw.decode(errors="replace").rstrip()


async def agent_events(stream: asyncio.StreamReader) -> AsyncIterator[AgentEvent]:
    """The agent's events, one a line, each checked against the agent protocol
    (:func:`kontext_preview.sandbox.protocol.agent_event`)."""
    async for line in text_lines(stream):
        if text := line.strip():
            yield agent_event(text)


async def log_lines(stream: asyncio.StreamReader) -> AsyncIterator[AgentEvent]:
    """Each line as a ``log`` event (a stream that is not JSON, like stderr)."""
    async for line in text_lines(stream):
        yield Log(type="log", message=line)


async def terminate_group(process: asyncio.subprocess.Process, grace_seconds: float) -> None:
    """TERM the process group we started (start_new_session=True), then KILL it if needed.

    The group is signalled even if the leader has exited, so no grandchild stays behind.
    """
    if process.returncode is None:
        _signal_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(process.wait(), grace_seconds)
    _signal_group(process.pid, signal.SIGKILL)
    await process.wait()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


# What a child process that runs a project's code gets of this process's environment:
# no KONTEXT_* settings, no credentials.
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


def minimal_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in PASSED_ENV}


# How much lower than the service a background step (a deployment's build) runs: the
# lowest priority, so previews (dev servers, the API) always come first on the CPU. At
# this niceness the step also runs under SCHED_IDLE (sched(7): it gets a CPU only when no
# other task wants it, and a waking preview task preempts it at once; nice 19 alone still
# gave the build a share: an edit took 1.26x as long while a deployment ran, issue 18).
BACKGROUND_NICENESS = 19


def _lower_priority(niceness: int) -> None:
    """In the child, before it runs: add ``niceness``; at BACKGROUND_NICENESS, SCHED_IDLE."""
    os.nice(niceness)
    if niceness >= BACKGROUND_NICENESS and hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


async def run_to_end(
    argv: list[str],
    cwd: Path,
    env: dict[str, str],
    on_line: Callable[[str], None],
    *,
    niceness: int = 0,
) -> int:
    """Run a process in a group of its own (``niceness`` added to its priority before it
    starts, so every thread and child it makes has it), its output (stdout and stderr) line
    by line to ``on_line``, and return its exit code. Cancelled, it stops the group, all of
    it. OSError if it cannot be started."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=(lambda: _lower_priority(niceness)) if niceness else None,
    )
    assert process.stdout
    try:
        async for line in text_lines(process.stdout):
            on_line(line)
        return await process.wait()
    finally:
        await terminate_group(process, 2.0)
