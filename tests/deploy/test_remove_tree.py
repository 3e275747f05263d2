"""A deployment's folders are removed to the end even when the deployment is cancelled
(the session ended mid-build): the removal runs in a thread, which a cancellation cannot
stop, and a caller that went on while it ran raced the session's own removal and left an
empty folder behind (seen once replaying a public history, tests/replay)."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kontext_preview.deploy.base import remove_tree


async def cancelled_removal(tree: Path) -> bool:
    """Whether ``tree`` still exists when a cancelled remove_tree returns."""
    task = asyncio.create_task(remove_tree(tree))
    await asyncio.sleep(0.005)  # the thread is under way
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return tree.exists()  # noqa: ASYNC240 (at this very moment, not in a thread)
    raise AssertionError("the removal was not cancelled")


def test_a_cancelled_removal_has_removed_everything_when_its_caller_goes_on(
    tmp_path: Path,
) -> None:
    tree = tmp_path / "build"
    for folder in range(40):
        (tree / str(folder)).mkdir(parents=True)
        for name in range(250):
            (tree / str(folder) / str(name)).write_bytes(b"x")
    # Its own loop in a thread: the session's Playwright browser runs one in this thread.
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, cancelled_removal(tree)).result() is False
