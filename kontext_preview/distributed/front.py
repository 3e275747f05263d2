"""The API side of distributed mode: the same verbs as the embedded default, carried out by
the worker node that hosts each session.

A request's files go to Redis (a payload hash), its id to the session's inbox,
and a Celery task to the node's own queue; the API then waits for the worker's
reply on a Redis list (``BLPOP``): one round trip to publish, one to answer.
Reads (status, the proxy's routing, events) come straight from Redis.
"""

import asyncio
import contextlib
import json
import logging
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

from redis.exceptions import RedisError

from kontext_preview import events as ev
from kontext_preview.config import Settings
from kontext_preview.distributed import registry
from kontext_preview.distributed.keys import Keys, node_queue
from kontext_preview.distributed.redis_io import (
    SEQ,
    RedisClient,
    RedisEventLog,
    ReplyTimeout,
    connect,
    wait_reply,
    write_payload,
)
from kontext_preview.errors import KontextError, SessionNotFound, TooManySessions
from kontext_preview.events import event_data
from kontext_preview.previews.front import Previews, Route, SessionView, expired_view
from kontext_preview.previews.session import EXPIRED, SessionStatus, new_session_id
from kontext_preview.sandbox.base import Endpoint
from kontext_preview.workspace.vfs import FileLimits, check_request

log = logging.getLogger(__name__)
_SESSION_ID = re.compile(r"^[a-z0-9]{1,63}$")
TOUCH_EVERY_SECONDS = 1.0
NUDGE_GRACE_SECONDS = 0.5  # then the update goes through Celery too


# Queue an update of an existing session, atomically: numbered (the session's next `seq`,
# also kept in the payload), into its inbox, its received event into its stream, its
# expiry moved, its node nudged. Nothing (and no payload) if the
# session is gone. Returns {node, number of runtimes that heard the nudge}.
ENQUEUE_UPDATE = """
local node = redis.call('HGET', KEYS[1], 'node')
if not node then
  redis.call('DEL', KEYS[5])
  return false
end
local seq = redis.call('HINCRBY', KEYS[1], 'updateSeq', 1)
redis.call('HSET', KEYS[5], ARGV[8], seq)
local received = cjson.decode(ARGV[5])
received['seq'] = seq
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call(
  'XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'type', ARGV[4], 'data', cjson.encode(received)
)
redis.call('ZADD', KEYS[4], 'XX', ARGV[3], ARGV[2])
return {node, redis.call('PUBLISH', ARGV[7] .. node, ARGV[2])}
"""


class NoWorkers(KontextError):
    status_code = 503
    code = "no_workers"


class DistributedPreviews(Previews):
    def __init__(self, settings: Settings):
        from workers.app import make_celery

        self.settings = settings
        self.limits = FileLimits.of(settings)
        self.keys = Keys(settings.redis_prefix)
        self.redis: RedisClient = connect(settings.redis_url)
        self.events: RedisEventLog = RedisEventLog(
            self.redis, self.keys, None, settings.events_kept, settings.events_retention_seconds
        )
        self.celery = make_celery(settings)
        self._enqueue = self.redis.register_script(ENQUEUE_UPDATE)
        self._touched: dict[str, float] = {}

    async def start(self) -> None:
        try:
            await self.redis.ping()
        except RedisError as exc:
            raise RuntimeError(
                f"distributed mode needs Redis at {self.settings.redis_url}: {exc} "
                "(set KONTEXT_REDIS_URL, or run `kontext-preview doctor`)"
            ) from exc

    async def census(self) -> dict[str, dict[str, int]]:
        beat = self.settings.node_heartbeat_seconds
        nodes = await registry.nodes(self.redis, self.keys)
        return {n.name: n.statuses for n in nodes if n.alive(beat)}

    async def readiness(self) -> list[str]:
        try:
            beat = self.settings.node_heartbeat_seconds
            live = [n for n in await registry.nodes(self.redis, self.keys) if n.alive(beat)]
        except RedisError as exc:
            return [f"Redis at {self.settings.redis_url} does not answer: {exc}"]
        return [] if live else ["no worker node is running (none sent a heartbeat recently)"]

    async def shutdown(self) -> None:
        await self.redis.aclose()

    # -- verbs -------------------------------------------------------------------------------

    async def create(
        self,
        owner: str,
        files: Mapping[str, bytes],
        package_json: dict[str, Any] | None,
        project_type: str | None,
        session_id: str | None,
    ) -> SessionView:
        check_request(self.limits, files)  # before anything is stored in Redis
        sid = new_session_id()
        if session_id is not None:
            if not await self._restorable(session_id, owner):
                await self._record(session_id, owner)
                await self._update(
                    session_id, files, (), replace_all=True, package_json=package_json
                )
                return await self.view(session_id, owner)
            sid = session_id  # an expired session, restored with these files
        await self._check_room(owner)
        node = await self._pick_node()
        request_id = secrets.token_hex(16)
        meta = {
            "kind": "create",
            "owner": owner,
            "packageJson": package_json,
            "projectType": project_type,
            "receivedAt": time.time(),
            "keepId": sid == session_id,  # a restore; a new session may get a warm slot's id
        }
        async with self.redis.pipeline(transaction=False) as pipe:
            write_payload(pipe, self.keys, request_id, files, meta)
            await pipe.execute()
        await self._send("kontext.create_session", [sid, request_id], node.queue)
        record = await wait_reply(
            self.redis, self.keys, request_id, self.settings.update_timeout_seconds, "create"
        )
        return registry.view_of(record)

    async def update(
        self, session_id: str, owner: str, files: Mapping[str, bytes], deleted: Iterable[str]
    ) -> dict[str, Any]:
        await self._record(session_id, owner)
        return await self._update(session_id, files, deleted)

    async def _update(
        self,
        session_id: str,
        files: Mapping[str, bytes],
        deleted: Iterable[str],
        *,
        replace_all: bool = False,
        package_json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if not _SESSION_ID.match(session_id):
            raise SessionNotFound(session_id[:80])
        deleted = list(deleted)
        check_request(self.limits, files, deleted)  # before anything is stored in Redis
        request_id = secrets.token_hex(16)
        meta = {
            "kind": "update",
            "deleted": list(deleted),
            "replaceAll": replace_all,
            "packageJson": package_json,
            "receivedAt": time.time(),
        }
        keys = self.keys
        received = event_data(ev.UPDATE_RECEIVED, {"updateId": request_id, "files": len(files)})
        async with self.redis.pipeline(transaction=True) as pipe:  # one round trip
            write_payload(pipe, keys, request_id, files, meta)
            await self._enqueue(  # queued on the pipeline (script loaded if Redis lacks it)
                keys=[
                    keys.session(session_id),
                    keys.inbox(session_id),
                    keys.events(session_id),
                    keys.sessions,
                    keys.payload(request_id),
                ],
                args=[
                    request_id,
                    session_id,
                    time.time() + self.settings.session_ttl_seconds,
                    ev.UPDATE_RECEIVED,
                    json.dumps(received),
                    self.settings.events_kept,
                    keys.wake(""),
                    SEQ,
                ],
                client=pipe,
            )
            enqueued = (await pipe.execute())[-1]
        if not enqueued:
            raise SessionNotFound(session_id[:80])
        node, listening = enqueued[0].decode(), int(enqueued[1])
        # The update is durable once it is in the inbox. The node, nudged over pub/sub,
        # applies it at once; the Celery task (acknowledged late, redelivered if a worker
        # dies) carries it when no runtime listens (a restart) or none answers in time.
        timeout = self.settings.update_timeout_seconds
        if listening:
            with contextlib.suppress(ReplyTimeout):
                return await wait_reply(self.redis, keys, request_id, NUDGE_GRACE_SECONDS, "update")
            timeout -= NUDGE_GRACE_SECONDS
        await self._send("kontext.apply_updates", [session_id], node_queue(node))
        return await wait_reply(self.redis, keys, request_id, timeout, "update")

    async def view(self, session_id: str, owner: str, *, detail: bool = False) -> SessionView:
        try:
            record = await self._record(session_id, owner)
        except SessionNotFound:
            if await self._restorable(session_id, owner):
                return expired_view(session_id)
            raise
        logs = None
        if detail:
            raw = await self.redis.lrange(self.keys.logs(session_id), 0, -1)
            logs = [line.decode(errors="replace") for line in raw]
        await self._touch(session_id, force=True)
        expires = await registry.expires_at(self.redis, self.keys, session_id)
        return registry.view_of(record, expires, logs)

    async def wait_settled(self, session_id: str, owner: str, seconds: float) -> SessionView:
        deadline = time.monotonic() + seconds
        after = await self.events.last_id(session_id)
        while True:
            view = registry.view_of(await self._record(session_id, owner))
            remaining = deadline - time.monotonic()
            if view.settled or remaining <= 0:
                return view
            events = await self.events.read(session_id, after, min(remaining, 5.0))
            if events:
                after = events[-1].id

    async def delete(self, session_id: str, owner: str) -> None:
        record = await self._record(session_id, owner)
        node = record.get("node", "")
        alive = {n.name: n for n in await registry.nodes(self.redis, self.keys)}
        if node in alive and alive[node].alive(self.settings.node_heartbeat_seconds):
            request_id = secrets.token_hex(16)
            await self._send(
                "kontext.delete_session",
                [session_id, request_id, ev.SESSION_DELETED],
                alive[node].queue,
            )
            await wait_reply(
                self.redis, self.keys, request_id, self.settings.update_timeout_seconds, "delete"
            )
            return
        log.warning("session %s: its node %r is gone; removing its records", session_id, node)
        async with self.redis.pipeline(transaction=True) as pipe:
            registry.purge(
                pipe,
                self.keys,
                session_id,
                node,
                self.events.write(session_id, ev.SESSION_DELETED, {"sessionId": session_id}),
                self.settings.events_retention_seconds,
                registry.ended_for(self.settings, ev.SESSION_DELETED, owner),
            )
            await pipe.execute()

    async def owns(self, session_id: str, owner: str) -> bool:
        if not _SESSION_ID.match(session_id):
            return False
        live = await self.redis.hget(self.keys.session(session_id), "owner")
        if live is None:
            live = await self.redis.hget(self.keys.ended(session_id), "owner")
        return live is not None and live.decode() == owner

    async def route(self, session_id: str, *, resume: bool = True) -> Route | None:
        if not _SESSION_ID.match(session_id):
            return None
        fields = ["status", "error", "host", "port", "node", "fallback", "deploymentUrl"]
        status, error, host, port, node, fallback, url = await self.redis.hmget(
            self.keys.session(session_id), fields
        )
        if status is None:
            reason = await self.redis.hget(self.keys.ended(session_id), "reason")
            return Route(EXPIRED, None, None) if reason == ev.SESSION_EXPIRED.encode() else None
        touched = await self._touch(session_id)
        if resume and touched and status == SessionStatus.HIBERNATED.value.encode() and node:
            await self._send("kontext.resume_session", [session_id], node_queue(node.decode()))
        endpoint = None
        if status == SessionStatus.ACTIVE.value.encode() and host and port:
            endpoint = Endpoint(host.decode(), int(port))
        deploy_error = None
        if fallback and not url:
            deploy_error = await self._fallback_error(session_id)
        return Route(
            status.decode(),
            error.decode() if error else None,
            endpoint,
            fallback.decode() if fallback else None,
            url.decode() if url else None,
            deploy_error,
        )

    async def _fallback_error(self, session_id: str) -> str | None:
        raw = await self.redis.hget(self.keys.session(session_id), "deployments")
        deployments = json.loads(raw or b"[]")
        last = deployments[-1] if deployments else None
        return last.get("error") if last and last.get("status") == "failed" else None

    # -- helpers -----------------------------------------------------------------------------

    async def _record(self, session_id: str, owner: str) -> dict[str, str]:
        found = (
            await registry.record(self.redis, self.keys, session_id)
            if _SESSION_ID.match(session_id)
            else None
        )
        if found is None or found.get("owner") != owner:
            raise SessionNotFound(session_id[:80])
        return found

    async def _restorable(self, session_id: str, owner: str) -> bool:
        if not _SESSION_ID.match(session_id):
            return False
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.exists(self.keys.session(session_id))
            pipe.hmget(self.keys.ended(session_id), ["owner", "reason"])
            live, (who, reason) = await pipe.execute()
        return not live and who == owner.encode() and reason == ev.SESSION_EXPIRED.encode()

    async def _check_room(self, owner: str) -> None:
        """The per-user limit, across every node (each node also enforces its own)."""
        mine = await self.redis.scard(self.keys.owner_sessions(owner))
        limit = self.settings.max_sessions_per_user
        if mine >= limit:
            raise TooManySessions(
                f"you have {mine} live preview sessions, the limit per user "
                f"(KONTEXT_MAX_SESSIONS_PER_USER) is {limit}: delete one with "
                "DELETE /kontext/preview/{id}, or let idle ones expire"
            )

    async def _pick_node(self) -> registry.Node:
        """The live node with the most room (fewest sessions for its capacity)."""
        beat = self.settings.node_heartbeat_seconds
        candidates = [n for n in await registry.nodes(self.redis, self.keys) if n.alive(beat)]
        if not candidates:
            raise NoWorkers(
                "no worker node is running (none sent a heartbeat recently); start one with "
                "`kontext-preview worker`"
            )
        return min(candidates, key=lambda n: (n.sessions / max(n.capacity, 1), n.sessions))

    async def _touch(self, session_id: str, *, force: bool = False) -> bool:
        """Record activity (at most once a second per session, unless ``force``)."""
        now = time.monotonic()
        if not force and now - self._touched.get(session_id, 0.0) < TOUCH_EVERY_SECONDS:
            return False
        self._touched[session_id] = now
        if len(self._touched) > 10_000:
            self._touched.clear()
        async with self.redis.pipeline(transaction=False) as pipe:
            registry.touch(pipe, self.keys, session_id, self.settings.session_ttl_seconds)
            await pipe.execute()
        return True

    async def _send(self, task: str, args: list[Any], queue: str) -> None:
        # Celery's publisher is synchronous; keep the event loop free while it talks to Redis.
        await asyncio.to_thread(self.celery.send_task, task, args=args, queue=queue)
