"""Each session's events in a Redis Stream, shared by the API, every worker and beat."""

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from kontext_preview.distributed.keys import Keys
from kontext_preview.distributed.redis_client import RedisClient, store_errors
from kontext_preview.distributed.stream_hub import ENTRIES_PER_READ, Arrival, Entries, StreamHub
from kontext_preview.distributed.writer import Write, Writer
from kontext_preview.events import TERMINAL, Event, EventLog, event_data

_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


class RedisEventLog(EventLog):
    """Each session's events in a Redis Stream; the stream ids are the SSE ids.

    While a session's batch of updates is being applied its events are held back
    (``hold``) and written in the same transaction as the batch's commit, so a
    worker killed part-way leaves no event of an update that did not happen.

    Waiting reads share the process's :class:`StreamHub` (``hub``): one blocking read for
    every stream followed here, none holding a connection of its own; without a hub (a
    worker, which never follows a stream) a read does not wait.

    Reads raise StoreUnavailable when Redis does not answer (``url`` names it)."""

    def __init__(
        self,
        redis: RedisClient,
        keys: Keys,
        writer: Writer | None,
        max_events: int,
        retention_seconds: int,
        url: str = "",
        hub: StreamHub | None = None,
    ):
        super().__init__()
        self.url = url
        self.redis = redis
        self.keys = keys
        self.writer = writer
        self.max_events = max_events
        self.retention_seconds = retention_seconds
        self._held: dict[str, list[Write]] = {}
        self.hub = hub

    def append(self, session_id: str, type_: str, data: dict[str, Any] | None = None) -> None:
        write = self.write(session_id, type_, data)
        held = self._held.get(session_id)
        if held is not None:
            held.append(write)
            return
        assert self.writer, "this process only reads events"
        self.writer.submit(write)

    def write(self, session_id: str, type_: str, data: dict[str, Any] | None = None) -> Write:
        fields = {"type": type_, "data": json.dumps(event_data(type_, data))}
        key, limit = self.keys.events(session_id), self.max_events
        return lambda pipe: pipe.xadd(key, fields, maxlen=limit, approximate=True)  # type: ignore[arg-type]

    def hold(self, session_id: str) -> None:
        self._held.setdefault(session_id, [])

    def release(self, session_id: str) -> list[Write]:
        return self._held.pop(session_id, [])

    async def read(self, session_id: str, after: str | None, wait: float) -> list[Event]:
        start = after if after and _STREAM_ID.match(after) else "0-0"
        key = self.keys.events(session_id)
        events = await self._read_now(key, start)
        if events or wait <= 0 or self.hub is None:
            return events
        watch = self.hub.watch(key.encode(), start.encode())
        try:
            events = await self._read_now(key, start)  # what came before the hub covered it
            if events:
                return events
            arrival = await watch.next(wait)
            if arrival is None:
                return []
            taken = _after(arrival, start)
            return taken if taken is not None else await self._read_now(key, start)
        finally:
            self.hub.unwatch(watch)

    async def follow(
        self, session_id: str, after: str | None, wait: float = 15.0
    ) -> AsyncIterator[Event | None]:
        """As :meth:`EventLog.follow`, on one subscription to the hub for the whole stream:
        each event the hub reads reaches every follower without a read of its own."""
        if self.hub is None:
            async for event in super().follow(session_id, after, wait):
                yield event
            return
        start = after if after and _STREAM_ID.match(after) else "0-0"
        key = self.keys.events(session_id)
        watch = self.hub.watch(key.encode(), start.encode())
        try:
            while True:  # what came before: read here (the hub covers what comes next)
                events = await self._read_now(key, start)
                for event in events:
                    start = event.id
                    yield event
                    if event.type in TERMINAL:
                        return
                if len(events) < ENTRIES_PER_READ:
                    break
            while True:
                arrival = await watch.next(wait)
                if arrival is None:
                    yield None  # a chance for a keep-alive
                    if not await self.exists(session_id):
                        return
                    continue
                taken = _after(arrival, start)
                events = taken if taken is not None else await self._read_now(key, start)
                for event in events:
                    start = event.id
                    yield event
                    if event.type in TERMINAL:
                        return
        finally:
            self.hub.unwatch(watch)

    async def _read_now(self, key: str, start: str) -> list[Event]:
        with store_errors(self.url):
            answer = await self.redis.xread({key: start}, count=ENTRIES_PER_READ)
        return [event for _, entries in answer or [] for event in _events(entries)]

    async def last_id(self, session_id: str) -> str | None:
        with store_errors(self.url):
            entries = await self.redis.xrevrange(self.keys.events(session_id), count=1)
        return entries[0][0].decode() if entries else None

    async def exists(self, session_id: str) -> bool:
        with store_errors(self.url):
            return bool(await self.redis.exists(self.keys.events(session_id)))

    async def end(self, session_id: str) -> None:
        key, seconds = self.keys.events(session_id), self.retention_seconds
        if self.writer:
            await self.writer.run(lambda pipe: pipe.expire(key, seconds))
        else:
            await self.redis.expire(key, seconds)

    async def flush(self) -> None:
        if self.writer:
            await self.writer.flush()

    async def aclose(self) -> None:
        if self.hub is not None:
            await self.hub.aclose()


def _after(arrival: Arrival, start: str) -> list[Event] | None:
    """The arrival's events after id ``start``; None if some came before it that the
    follower has not seen (it reads them for itself). Decoded once for all followers."""
    if _id(arrival.previous.decode()) > _id(start):
        return None
    if arrival.parsed is None:
        arrival.parsed = _events(arrival.entries)
    after = _id(start)
    return [event for event in arrival.parsed if _id(event.id) > after]


def _id(stream_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = stream_id.partition("-")
    return int(milliseconds), int(sequence or 0)


def _events(entries: Entries) -> list[Event]:
    return [
        Event(
            entry_id.decode(),
            fields[b"type"].decode(),
            json.loads(fields[b"data"]),
            fields[b"data"].decode(),
        )
        for entry_id, fields in entries
    ]
