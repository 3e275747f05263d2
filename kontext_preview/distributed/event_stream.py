"""Each session's events in a Redis Stream, shared by the API, every worker and beat."""

import json
import re
from typing import Any

from kontext_preview.distributed.keys import Keys
from kontext_preview.distributed.redis_client import RedisClient, store_errors
from kontext_preview.distributed.writer import Write, Writer
from kontext_preview.events import Event, EventLog, event_data

_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


class RedisEventLog(EventLog):
    """Each session's events in a Redis Stream; the stream ids are the SSE ids.

    While a session's batch of updates is being applied its events are held back
    (``hold``) and written in the same transaction as the batch's commit, so a
    worker killed part-way leaves no event of an update that did not happen.

    Reads raise StoreUnavailable when Redis does not answer (``url`` names it)."""

    def __init__(
        self,
        redis: RedisClient,
        keys: Keys,
        writer: Writer | None,
        max_events: int,
        retention_seconds: int,
        url: str = "",
    ):
        super().__init__()
        self.url = url
        self.redis = redis
        self.keys = keys
        self.writer = writer
        self.max_events = max_events
        self.retention_seconds = retention_seconds
        self._held: dict[str, list[Write]] = {}

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
        with store_errors(self.url):
            answer = await self.redis.xread(
                {self.keys.events(session_id): start},
                count=500,
                block=max(1, int(wait * 1000)) if wait > 0 else None,
            )
        events = []
        for _, entries in answer or []:
            for entry_id, fields in entries:
                data = json.loads(fields[b"data"])
                events.append(Event(entry_id.decode(), fields[b"type"].decode(), data))
        return events

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
