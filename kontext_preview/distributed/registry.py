"""The session registry and the nodes' heartbeats in Redis: reads and writes, through the
protocol's models (:mod:`kontext_preview.distributed.protocol`)."""

import time
from collections.abc import Callable
from typing import Any

from redis.asyncio.client import Pipeline

from kontext_preview.config import Settings
from kontext_preview.contract import FACTS, SessionView, ended_retention_seconds
from kontext_preview.distributed.keys import Keys
from kontext_preview.distributed.protocol import EndedNote, NodeBeat, SessionRecord
from kontext_preview.distributed.redis_client import RedisClient


def heartbeat(pipe: Pipeline, keys: Keys, name: str, beat: NodeBeat) -> None:
    pipe.hset(keys.nodes, name, beat.model_dump_json())


async def nodes(redis: RedisClient, keys: Keys) -> dict[str, NodeBeat]:
    """Every node that ever beat and was not removed, by name (alive or not)."""
    raw = await redis.hgetall(keys.nodes)
    return {name.decode(): NodeBeat.model_validate_json(data) for name, data in raw.items()}


async def live_nodes(
    redis: RedisClient, keys: Keys, heartbeat_seconds: float
) -> dict[str, NodeBeat]:
    now = time.time()
    return {
        name: beat
        for name, beat in (await nodes(redis, keys)).items()
        if beat.alive(heartbeat_seconds, now)
    }


def write_record(pipe: Pipeline, keys: Keys, record: SessionRecord) -> None:
    pipe.hset(keys.session(record.id), mapping=record.to_hash())  # type: ignore[arg-type]


async def record(redis: RedisClient, keys: Keys, session_id: str) -> SessionRecord | None:
    return SessionRecord.from_hash(await redis.hgetall(keys.session(session_id)))


async def ended(redis: RedisClient, keys: Keys, session_id: str) -> EndedNote | None:
    return EndedNote.from_hash(await redis.hgetall(keys.ended(session_id)))


def view_of(
    record: SessionRecord, expires_at: float | None = None, logs: list[str] | None = None
) -> SessionView:
    """The API's view of a record (``expires_at``: from the expiry set, which activity
    moves; else from the record's creation)."""
    if expires_at is None:
        expires_at = record.createdAt + record.ttl
    return SessionView(
        **record.model_dump(include=FACTS),
        expiresAt=int(expires_at),
        logs=logs or [],
    )


async def expires_at(redis: RedisClient, keys: Keys, session_id: str) -> float | None:
    score = await redis.zscore(keys.sessions, session_id)
    return None if score is None else float(score)


def touch(pipe: Pipeline, keys: Keys, session_id: str, ttl: int, at: float | None = None) -> None:
    """Activity: the session now expires ``ttl`` s from ``at``. Only a registered session
    is moved (``XX``), so a late touch never brings a deleted one back."""
    at = time.time() if at is None else at
    pipe.zadd(keys.sessions, {session_id: at + ttl}, xx=True)


def purge(
    pipe: Pipeline,
    keys: Keys,
    settings: Settings,
    session_id: str,
    node: str | None,
    event: Callable[[Pipeline], Any] | None,
    ended_as: EndedNote | None = None,
) -> None:
    """Drop every registry key of a session (its event stream expires after
    ``events_retention_seconds``). ``ended_as`` leaves a note of how it ended, for its
    owner (the expired page, the restore, a late SSE reader), kept as long as
    :func:`~kontext_preview.contract.ended_retention_seconds` says."""
    pipe.delete(*keys.session_keys(session_id))
    pipe.zrem(keys.sessions, session_id)
    if node:
        pipe.srem(keys.node_sessions(node), session_id)
    if ended_as is not None:
        pipe.srem(keys.owner_sessions(ended_as.owner), session_id)
        pipe.hset(keys.ended(session_id), mapping=ended_as.model_dump())  # type: ignore[arg-type]
        pipe.expire(keys.ended(session_id), ended_retention_seconds(settings, ended_as.reason))
    if event is not None:
        event(pipe)
    pipe.expire(keys.events(session_id), settings.events_retention_seconds)
