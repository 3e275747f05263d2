"""Redis plumbing shared by the API and the workers: ordered writes, event streams,
request payloads and replies."""

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from kontext_preview.distributed.keys import Keys
from kontext_preview.errors import KontextError
from kontext_preview.events import Event, EventLog, event_data

log = logging.getLogger(__name__)

Write = Callable[[Pipeline], Any]
_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
META = b"\x00meta"  # the payload hash's metadata field (no file name can start with NUL)
SEQ = b"\x00seq"  # the update's number, set when it is queued
PAYLOAD_TTL_SECONDS = 3600
REPLY_TTL_SECONDS = 120


# redis-py's types say every reply may be bytes or str; with decode_responses=False it is
# always bytes. The client is typed loosely rather than cast at every call.
RedisClient = Any


def connect(url: str) -> RedisClient:
    return Redis.from_url(url, decode_responses=False, health_check_interval=30)


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


class RedisEventLog(EventLog):
    """Each session's events in a Redis Stream; the stream ids are the SSE ids.

    While a session's batch of updates is being applied its events are held back
    (``hold``) and written in the same transaction as the batch's commit, so a
    worker killed part-way leaves no event of an update that did not happen."""

    def __init__(
        self,
        redis: RedisClient,
        keys: Keys,
        writer: Writer | None,
        max_events: int,
        retention_seconds: int,
    ):
        super().__init__()
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
        entries = await self.redis.xrevrange(self.keys.events(session_id), count=1)
        return entries[0][0].decode() if entries else None

    async def exists(self, session_id: str) -> bool:
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


# -- requests from the API to a worker: payload in, reply out --------------------------------


def write_payload(
    pipe: Pipeline,
    keys: Keys,
    request_id: str,
    files: Mapping[str, bytes],
    meta: dict[str, Any],
) -> None:
    key = keys.payload(request_id)
    mapping: dict[bytes, bytes] = {META: json.dumps(meta).encode()}
    mapping.update((name.encode(), content) for name, content in files.items())
    pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
    pipe.expire(key, PAYLOAD_TTL_SECONDS)


def read_payload(raw: Mapping[bytes, bytes]) -> tuple[dict[str, bytes], dict[str, Any]] | None:
    if META not in raw:
        return None
    meta: dict[str, Any] = json.loads(raw[META])
    if SEQ in raw:
        meta["seq"] = int(raw[SEQ])
    files = {name.decode(): content for name, content in raw.items() if name not in (META, SEQ)}
    return files, meta


def ok_reply(result: dict[str, Any]) -> bytes:
    return json.dumps({"ok": True, "result": result}).encode()


def error_reply(error: KontextError) -> bytes:
    return json.dumps(
        {
            "ok": False,
            "error": {"code": error.code, "message": error.message, "status": error.status_code},
        }
    ).encode()


class ReplyTimeout(KontextError):
    status_code = 504
    code = "worker_timeout"


def write_reply(pipe: Pipeline, keys: Keys, request_id: str, reply: bytes) -> None:
    pipe.lpush(keys.reply(request_id), reply)
    pipe.expire(keys.reply(request_id), REPLY_TTL_SECONDS)


async def wait_reply(
    redis: RedisClient, keys: Keys, request_id: str, seconds: float, what: str
) -> dict[str, Any]:
    """The worker's answer, or the error it reported, raised as a KontextError."""
    answer = await redis.blpop([keys.reply(request_id)], timeout=seconds)
    if answer is None:
        raise ReplyTimeout(
            f"no worker answered the {what} within {seconds:g} s (KONTEXT_UPDATE_TIMEOUT_SECONDS); "
            "it is queued and will be applied in order when the session's worker is back — "
            "GET the session to follow it"
        )
    reply = json.loads(answer[1])
    if reply.get("ok"):
        result: dict[str, Any] = reply["result"]
        return result
    error = reply.get("error", {})
    raise KontextError(
        error.get("message", "the worker failed"),
        status_code=int(error.get("status", 500)),
        code=error.get("code", "internal_error"),
    )


def decode_hash(raw: Mapping[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}
