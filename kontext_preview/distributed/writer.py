"""Ordered writes to Redis, batched into one transaction per round trip."""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from redis.asyncio.client import Pipeline

from kontext_preview.distributed.redis_client import RedisClient

log = logging.getLogger(__name__)

Write = Callable[[Pipeline], Any]


class Writer:
    """Runs writes in submission order, batched into one MULTI/EXEC per round trip.

    ``submit`` returns at once (status changes, log lines, events); ``run`` waits
    until its write is stored (commits). A write is a function that adds commands
    to the pipeline, evaluated when the batch is sent, so it can write the
    latest state rather than the state at submission."""

    def __init__(self, redis: RedisClient):
        self.redis = redis
        self._queue: asyncio.Queue[tuple[Write, asyncio.Future[None] | None]] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None

    def submit(self, write: Write) -> None:
        self._ensure_pump()
        self._queue.put_nowait((write, None))

    async def run(self, write: Write) -> None:
        self._ensure_pump()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((write, done))
        await done

    async def flush(self) -> None:
        await self.run(lambda pipe: None)

    async def aclose(self) -> None:
        if self._pump:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.flush(), 5)
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump

    def _ensure_pump(self) -> None:
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            error: BaseException | None = None
            try:
                async with self.redis.pipeline(transaction=True) as pipe:
                    for write, _ in batch:
                        write(pipe)
                    if len(pipe):
                        await pipe.execute()
            except Exception as exc:
                log.exception("writing %d change(s) to Redis failed", len(batch))
                error = exc
            for _, done in batch:
                if done is not None and not done.done():
                    if error is None:
                        done.set_result(None)
                    else:
                        done.set_exception(error)
