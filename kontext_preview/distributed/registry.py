"""The session registry and the nodes' heartbeats in Redis, as the API and beat read them."""

import json
import time
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio.client import Pipeline

from kontext_preview.distributed.keys import Keys, node_queue
from kontext_preview.distributed.redis_io import RedisClient, decode_hash
from kontext_preview.previews.front import SessionView


@dataclass(frozen=True)
class Node:
    name: str
    queue: str
    address: str
    sessions: int
    capacity: int
    heartbeat: float
    statuses: dict[str, int] = field(default_factory=dict)

    def alive(self, heartbeat_seconds: float, now: float | None = None) -> bool:
        return (now or time.time()) - self.heartbeat < 3 * heartbeat_seconds + 1


def heartbeat(
    pipe: Pipeline,
    keys: Keys,
    name: str,
    address: str,
    sessions: int,
    capacity: int,
    statuses: dict[str, int] | None = None,
) -> None:
    data = {
        "queue": node_queue(name),
        "address": address,
        "sessions": sessions,
        "capacity": capacity,
        "heartbeat": time.time(),
        "statuses": statuses or {},
    }
    pipe.hset(keys.nodes, name, json.dumps(data))


async def nodes(redis: RedisClient, keys: Keys) -> list[Node]:
    found = []
    for name, raw in (await redis.hgetall(keys.nodes)).items():
        data = json.loads(raw)
        found.append(
            Node(
                name.decode(),
                data["queue"],
                data["address"],
                int(data["sessions"]),
                int(data["capacity"]),
                float(data["heartbeat"]),
                {k: int(v) for k, v in data.get("statuses", {}).items()},
            )
        )
    return found


def view_of(
    record: dict[str, str], expires_at: float | None = None, logs: list[str] | None = None
) -> SessionView:
    if expires_at is None:
        expires_at = float(record.get("createdAt") or 0) + int(record.get("ttl") or 0)
    return SessionView(
        id=record["id"],
        status=record.get("status") or "installing",
        error=record.get("error") or None,
        framework=record.get("framework") or "vite",
        vite_root=record.get("viteRoot", ""),
        project_type=record.get("projectType") or None,
        expires_at=int(expires_at),
        files=int(record.get("files") or 0),
        logs=logs or [],
        deployments=json.loads(record.get("deployments") or "[]"),
        deployment_url=record.get("deploymentUrl") or None,
        fallback=record.get("fallback") or None,
    )


async def record(redis: RedisClient, keys: Keys, session_id: str) -> dict[str, str] | None:
    raw = await redis.hgetall(keys.session(session_id))
    return decode_hash(raw) if raw else None


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
    session_id: str,
    node: str | None,
    event: Any,
    retention: int,
    ended: tuple[str, str, int] | None = None,
) -> None:
    """Drop every registry key of a session (its event stream expires later). ``ended``
    (owner, reason, seconds) leaves a note of how it ended, for its owner: the expired
    page, the restore, a late SSE reader."""
    pipe.delete(*keys.session_keys(session_id))
    pipe.zrem(keys.sessions, session_id)
    if node:
        pipe.srem(keys.node_sessions(node), session_id)
    if ended is not None:
        owner, reason, keep = ended
        pipe.srem(keys.owner_sessions(owner), session_id)
        pipe.hset(keys.ended(session_id), mapping={"owner": owner, "reason": reason})
        pipe.expire(keys.ended(session_id), keep)
    if event is not None:
        event(pipe)
    pipe.expire(keys.events(session_id), retention)


def ended_for(settings: Any, reason: str, owner: str) -> tuple[str, str, int]:
    keep = (
        settings.expired_retention_seconds
        if reason == "session.expired"
        else settings.events_retention_seconds
    )
    return owner, reason, int(keep)
