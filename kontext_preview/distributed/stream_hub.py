"""One blocking XREAD per API process for every event stream it serves.

A Server-Sent Events stream waits for its session's next event. Were each to block in
its own ``XREAD BLOCK``, each would hold a Redis connection for as long as it waits:
a few hundred open streams would exhaust any pool and starve the short commands (a
GET, an update) that share it. Here one task, on one connection of its own, blocks on
the streams of every session someone follows, from the last id it has seen of each,
and hands what arrives to the followers of that session (:meth:`StreamHub.watch`).

A follower that starts watching a session the read does not cover yet interrupts it
(``CLIENT UNBLOCK``: Redis answers the blocked ``XREAD`` as a timeout), so the next
read includes it; until then its own non-blocking read covers what it may miss.

Followers get each arrival (:class:`Arrival`): the raw XREAD entries and the last id the
hub had seen of that stream before them. One that has seen up to ``previous`` (or
further) takes the entries it lacks; one that is behind reads the gap for itself.
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from kontext_preview.distributed.redis_client import RedisClient

log = logging.getLogger(__name__)

BLOCK_MS = 10_000  # the longest one XREAD blocks (a new follower interrupts it sooner)
ENTRIES_PER_READ = 500  # per stream and read (XREAD COUNT)
RETRY_SECONDS = 1.0  # after Redis failed to answer
Entries = list[tuple[bytes, dict[bytes, bytes]]]


@dataclass
class Arrival:
    """What one read brought of a stream: ``entries`` (raw XREAD entries) after
    ``previous`` (the last id the hub had seen of it). ``parsed``: a slot for the
    followers' one shared decoding of them."""

    previous: bytes
    entries: Entries
    parsed: Any = None


@dataclass(eq=False)  # each subscription is its own, kept in a set
class Watch:
    """A follower's subscription to a stream: every arrival after it began, in order."""

    key: bytes
    arrivals: "asyncio.Queue[Arrival | None]" = field(default_factory=asyncio.Queue)

    async def next(self, seconds: float) -> Arrival | None:
        """The next arrival, or None after ``seconds`` without one (or once the hub has
        stopped)."""
        try:
            return await asyncio.wait_for(self.arrivals.get(), seconds)
        except TimeoutError:
            return None


@dataclass
class _Stream:
    last_id: bytes
    watches: set[Watch] = field(default_factory=set)


class StreamHub:
    """Blocks on many Redis Streams with one connection, for many followers each.

    ``connection``: a client of its own whose reads may block as long as BLOCK_MS (no
    socket timeout shorter than that); ``commands``: the process's client for short
    commands (CLIENT UNBLOCK)."""

    def __init__(self, connection: RedisClient, commands: RedisClient):
        self.connection = connection
        self.commands = commands
        self.running = True
        self._streams: dict[bytes, _Stream] = {}
        self._reader: asyncio.Task[None] | None = None
        self._client_id: int | None = None
        self._blocked_on: frozenset[bytes] = frozenset()
        self._unblocking: asyncio.Task[None] | None = None

    def watch(self, key: bytes, after: bytes) -> Watch:
        """Subscribe to stream ``key``, of which the follower has seen up to id ``after``;
        :meth:`unwatch` when done. The hub covers it from its next read on: the follower
        reads what came before for itself."""
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _Stream(after)
        watch = Watch(key)
        stream.watches.add(watch)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.ensure_future(self._read_forever())
        elif key not in self._blocked_on:
            self._interrupt()
        return watch

    def unwatch(self, watch: Watch) -> None:
        stream = self._streams.get(watch.key)
        if stream is not None:
            stream.watches.discard(watch)
            if not stream.watches:
                del self._streams[watch.key]

    async def aclose(self) -> None:
        self.running = False
        for task in (self._reader, self._unblocking):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for stream in self._streams.values():
            for watch in stream.watches:
                watch.arrivals.put_nowait(None)
        with contextlib.suppress(Exception):
            await self.connection.aclose()

    async def _read_forever(self) -> None:
        while self.running and self._streams:
            try:
                if self._client_id is None:
                    self._client_id = int(await self.connection.client_id())
                wanted = {key: stream.last_id for key, stream in self._streams.items()}
                self._blocked_on = frozenset(wanted)
                answer = await self.connection.xread(wanted, count=ENTRIES_PER_READ, block=BLOCK_MS)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("event streams: Redis read failed (%s); retrying", exc)
                self._client_id = None
                self._blocked_on = frozenset()
                await asyncio.sleep(RETRY_SECONDS)
                continue
            finally:
                self._blocked_on = frozenset()
            for key, entries in answer or []:
                stream = self._streams.get(key)
                if stream is None or not entries:
                    continue
                arrival = Arrival(stream.last_id, entries)
                stream.last_id = entries[-1][0]
                for watch in stream.watches:
                    watch.arrivals.put_nowait(arrival)

    def _interrupt(self) -> None:
        """Have the blocked read start again with the streams followed now: CLIENT UNBLOCK,
        until a read that covers every stream has started (one sent just before the read
        reached Redis would be lost)."""
        if self._unblocking is None or self._unblocking.done():
            self._unblocking = asyncio.ensure_future(self._unblock())

    async def _unblock(self) -> None:
        for _ in range(200):  # ~4 s at most; the read blocks no longer than BLOCK_MS
            if set(self._streams) <= self._blocked_on:
                return
            if self._client_id is not None and self._blocked_on:
                with contextlib.suppress(RedisError, OSError):
                    await self.commands.client_unblock(self._client_id)
            await asyncio.sleep(0.02)
