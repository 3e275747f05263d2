"""The API side of distributed mode: the same verbs as the embedded default, carried out by
the worker node that hosts each session (:class:`DistributedSessionManager`).

A request's files go to Redis (a payload hash). A create or a delete is a Celery task
on the node's own queue. An update's id goes to the session's inbox, in the script that
numbers it and nudges the node over pub/sub (``scripts/enqueue_update.lua``): the node's
runtime applies the inbox at once; only if no runtime heard the nudge, or none answered
within NUDGE_GRACE_SECONDS, a Celery task carries it too (docs/ARCHITECTURE.md, "Why two
tracks for an update"). Either way the API waits for the worker's reply on a Redis list
(``BLPOP``, its own pool: ``redis_client``). Reads (status, the proxy's routing, events)
come straight from Redis; event streams through the process's one StreamHub. What is
written and read is the protocol's models (``protocol.py``); a Redis that does not
answer is StoreUnavailable (503) from every verb, a worker that does not answer in time
ReplyTimeout (504).
"""

import asyncio
import contextlib
import json
import logging
import math
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from kontext_preview import events as ev
from kontext_preview.config import Settings
from kontext_preview.contract import (
    EXPIRED_ROUTE,
    Route,
    SessionManager,
    SessionStatus,
    SessionView,
    UpdateOutcome,
    check_user_room,
    expired_view,
    is_session_id,
    new_session_id,
    route_of,
)
from kontext_preview.distributed import registry
from kontext_preview.distributed.celery_app import make_celery
from kontext_preview.distributed.event_stream import RedisEventLog
from kontext_preview.distributed.keys import Keys
from kontext_preview.distributed.lua import ENQUEUE_UPDATE
from kontext_preview.distributed.protocol import (
    APPLY_UPDATES_TASK,
    CREATE_TASK,
    DELETE_TASK,
    RESUME_TASK,
    EndedNote,
    NodeBeat,
    RequestMeta,
    SessionRecord,
    node_queue,
)
from kontext_preview.distributed.redis_client import (
    RedisClient,
    connect,
    translates_store_errors,
)
from kontext_preview.distributed.requests import (
    SEQ,
    ReplyTimeout,
    abandon,
    wait_reply,
    write_payload,
)
from kontext_preview.distributed.stream_hub import BLOCK_MS, StreamHub
from kontext_preview.errors import KontextError, SessionNotFound, StoreUnavailable
from kontext_preview.events import event_data, received_event
from kontext_preview.workspace.vfs import FileLimits, check_request

log = logging.getLogger(__name__)
TOUCH_EVERY_SECONDS = 1.0
NUDGE_GRACE_SECONDS = 0.5  # then the update goes through Celery too
# A node that has missed this many heartbeats is shown as away (its sessions `starting`),
# before it is taken for dead (3 beats and a second: NodeBeat.alive) and they move.
LATE_BEATS = 1.5
NODES_CACHE_SECONDS = 1.0  # the nodes hash is read at most this often for that
LIVE_STATUSES = frozenset(
    {SessionStatus.ACTIVE.value, SessionStatus.STARTING.value, SessionStatus.INSTALLING.value}
)


class NoWorkers(KontextError):
    status_code = 503
    code = "no_workers"


class DistributedSessionManager(SessionManager):
    def __init__(self, settings: Settings):
        self.settings = settings
        self.limits = FileLimits.of(settings)
        self.keys = Keys(settings.redis_prefix)
        url, timeout = settings.redis_url, settings.redis_socket_timeout_seconds
        self.redis: RedisClient = connect(
            url, max_connections=settings.redis_max_connections, socket_timeout=timeout
        )
        # Waits for workers' replies: no read timeout of its own (wait_reply bounds each).
        self.replies: RedisClient = connect(
            url,
            max_connections=settings.redis_reply_connections,
            socket_timeout=None,
            pool_wait=timeout,
        )
        # Every event stream this process serves: one blocking read, one connection.
        hub = StreamHub(
            connect(url, max_connections=1, socket_timeout=BLOCK_MS / 1000 + timeout), self.redis
        )
        self.events: RedisEventLog = RedisEventLog(
            self.redis,
            self.keys,
            None,
            settings.events_kept,
            settings.events_retention_seconds,
            url,
            hub,
        )
        self.celery = make_celery(settings)
        self._enqueue = ENQUEUE_UPDATE.bind(self.redis)
        self._touched: dict[str, float] = {}
        self._nodes: dict[str, NodeBeat] = {}
        self._nodes_read_at = -math.inf

    async def start(self) -> None:
        try:
            await self.redis.ping()
        except RedisError as exc:
            raise RuntimeError(
                f"distributed mode needs Redis at {self.settings.redis_url}: {exc} "
                "(set KONTEXT_REDIS_URL, or run `kontext-preview doctor`)"
            ) from exc

    @translates_store_errors
    async def status_counts(self) -> dict[str, dict[str, int]]:
        live = await registry.live_nodes(
            self.redis, self.keys, self.settings.node_heartbeat_seconds
        )
        return {name: beat.statuses for name, beat in live.items()}

    async def readiness(self) -> list[str]:
        try:
            live = await registry.live_nodes(
                self.redis, self.keys, self.settings.node_heartbeat_seconds
            )
        except RedisError as exc:
            return [f"Redis at {self.settings.redis_url} does not answer: {exc}"]
        return [] if live else ["no worker node is running (none sent a heartbeat recently)"]

    async def shutdown(self) -> None:
        await self.events.aclose()
        await self.replies.aclose()
        await self.redis.aclose()

    # -- verbs -------------------------------------------------------------------------------

    @translates_store_errors
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
        check_user_room(await self.redis.scard(self.keys.owner_sessions(owner)), self.settings)
        node = await self._pick_node()
        request_id = secrets.token_hex(16)
        meta = RequestMeta(
            kind="create",
            owner=owner,
            packageJson=package_json,
            projectType=project_type,
            receivedAt=time.time(),
            keepId=sid == session_id,  # a restore; a new session may get a warm slot's id
        )
        async with self.redis.pipeline(transaction=False) as pipe:
            write_payload(pipe, self.keys, request_id, files, meta)
            await pipe.execute()
        await self._send(CREATE_TASK, [sid, request_id], node.queue)
        seconds = self.settings.update_timeout_seconds
        try:
            result = await wait_reply(self.replies, self.keys, request_id, seconds, "create")
        except ReplyTimeout:
            # No session the client cannot name: the answer if it came meanwhile, else the
            # create is called off (a worker that made it ends it).
            answered = await abandon(self.redis, self.keys, request_id)
            if answered is None:
                raise ReplyTimeout(
                    f"no worker answered the create within {seconds:g} s "
                    f"(KONTEXT_UPDATE_TIMEOUT_SECONDS; on queue {node.queue}); it was "
                    "called off and no session was made: send it again"
                ) from None
            result = answered
        return registry.view_of(SessionRecord.model_validate(result))

    @translates_store_errors
    async def update(
        self, session_id: str, owner: str, files: Mapping[str, bytes], deleted: Iterable[str]
    ) -> UpdateOutcome:
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
    ) -> UpdateOutcome:
        if not is_session_id(session_id):
            raise SessionNotFound(session_id[:80])
        deleted = list(deleted)
        check_request(self.limits, files, deleted)  # before anything is stored in Redis
        request_id = secrets.token_hex(16)
        meta = RequestMeta(
            kind="update",
            deleted=deleted,
            replaceAll=replace_all,
            packageJson=package_json,
            receivedAt=time.time(),
        )
        keys = self.keys
        # The script sets the number as it queues the update.
        received = event_data(ev.UPDATE_RECEIVED, received_event(request_id, 0, len(files)))
        async with self.redis.pipeline(transaction=True) as pipe:  # one round trip
            write_payload(pipe, keys, request_id, files, meta)
            await self._enqueue(  # queued on the pipeline (script loaded if Redis lacks it)
                session=keys.session(session_id),
                inbox=keys.inbox(session_id),
                events=keys.events(session_id),
                sessions=keys.sessions,
                payload=keys.payload(request_id),
                request_id=request_id,
                session_id=session_id,
                expires_at=time.time() + self.settings.session_ttl_seconds,
                event_type=ev.UPDATE_RECEIVED,
                event_data=json.dumps(received),
                events_kept=self.settings.events_kept,
                wake_prefix=keys.wake(""),
                seq_field=SEQ,
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
                answer = await wait_reply(
                    self.replies, keys, request_id, NUDGE_GRACE_SECONDS, "update"
                )
                return UpdateOutcome.model_validate(answer)
            timeout -= NUDGE_GRACE_SECONDS
        await self._send(APPLY_UPDATES_TASK, [session_id], node_queue(node))
        answer = await wait_reply(self.replies, keys, request_id, timeout, "update")
        return UpdateOutcome.model_validate(answer)

    @translates_store_errors
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

    @translates_store_errors
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

    @translates_store_errors
    async def delete(self, session_id: str, owner: str) -> None:
        record = await self._record(session_id, owner)
        live = await registry.live_nodes(
            self.redis, self.keys, self.settings.node_heartbeat_seconds
        )
        if record.node in live:
            request_id = secrets.token_hex(16)
            await self._send(
                DELETE_TASK,
                [session_id, request_id, ev.SESSION_DELETED],
                live[record.node].queue,
            )
            await wait_reply(
                self.replies, self.keys, request_id, self.settings.update_timeout_seconds, "delete"
            )
            return
        log.warning(
            "session %s: its node %r is gone; removing its records", session_id, record.node
        )
        async with self.redis.pipeline(transaction=True) as pipe:
            registry.purge(
                pipe,
                self.keys,
                self.settings,
                session_id,
                record.node,
                self.events.write(session_id, ev.SESSION_DELETED, {"sessionId": session_id}),
                EndedNote(owner=owner, reason=ev.SESSION_DELETED),
            )
            await pipe.execute()

    @translates_store_errors
    async def owns(self, session_id: str, owner: str) -> bool:
        if not is_session_id(session_id):
            return False
        live = await self.redis.hget(self.keys.session(session_id), "owner")
        if live is None:
            live = await self.redis.hget(self.keys.ended(session_id), "owner")
        return live is not None and live.decode() == owner

    @translates_store_errors
    async def route(self, session_id: str, *, resume: bool = True) -> Route | None:
        if not is_session_id(session_id):
            return None
        record = await registry.record(self.redis, self.keys, session_id)
        if record is None:
            ended = await registry.ended(self.redis, self.keys, session_id)
            return EXPIRED_ROUTE if ended and ended.reason == ev.SESSION_EXPIRED else None
        record = await self._as_seen(record)
        touched = await self._touch(session_id)
        if resume and touched and record.status == SessionStatus.HIBERNATED and record.node:
            await self._send(RESUME_TASK, [session_id], node_queue(record.node))
        return route_of(
            record.status,
            record.error,
            (record.host, record.port) if record.host and record.port else None,
            record.fallback,
            record.deployments,
            record.deploymentUrl,
        )

    # -- helpers -----------------------------------------------------------------------------

    async def _record(self, session_id: str, owner: str) -> SessionRecord:
        found = (
            await registry.record(self.redis, self.keys, session_id)
            if is_session_id(session_id)
            else None
        )
        if found is None or found.owner != owner:
            raise SessionNotFound(session_id[:80])
        return await self._as_seen(found)

    async def _as_seen(self, record: SessionRecord) -> SessionRecord:
        """The record as its user should see it: a session whose node has missed more than
        LATE_BEATS heartbeats is ``starting`` (its dev server is likely gone with the node),
        with why, until the node beats again or the session moves (workers/failover.py)."""
        if not record.node or record.status not in LIVE_STATUSES:
            return record
        if time.monotonic() - self._nodes_read_at > NODES_CACHE_SECONDS:
            self._nodes = await registry.nodes(self.redis, self.keys)
            self._nodes_read_at = time.monotonic()
        beat = self._nodes.get(record.node)
        heartbeat = self.settings.node_heartbeat_seconds
        silent = time.time() - beat.heartbeat if beat else 0.0
        if silent <= LATE_BEATS * heartbeat + 1:
            return record
        reason = (
            f"node {record.node} has not answered for {silent:.0f} s (no heartbeat); its "
            f"sessions start again on another live node once it has been silent for "
            f"{3 * heartbeat + 1:g} s, or on it when it restarts"
        )
        return record.model_copy(
            update={
                "status": SessionStatus.STARTING.value,
                "host": None,
                "port": None,
                "error": reason,
            }
        )

    async def _restorable(self, session_id: str, owner: str) -> bool:
        if not is_session_id(session_id):
            return False
        if await self.redis.exists(self.keys.session(session_id)):
            return False
        ended = await registry.ended(self.redis, self.keys, session_id)
        return ended is not None and ended.owner == owner and ended.reason == ev.SESSION_EXPIRED

    async def _pick_node(self) -> NodeBeat:
        """The live node with the most room (fewest sessions for its capacity)."""
        live = await registry.live_nodes(
            self.redis, self.keys, self.settings.node_heartbeat_seconds
        )
        if not live:
            raise NoWorkers(
                "no worker node is running (none sent a heartbeat recently); start one with "
                "`kontext-preview worker`"
            )
        return min(live.values(), key=lambda n: (n.sessions / max(n.capacity, 1), n.sessions))

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
        try:
            await asyncio.to_thread(self.celery.send_task, task, args=args, queue=queue)
        except OperationalError as exc:  # kombu's word for a broker that does not answer
            raise StoreUnavailable(
                f"could not hand the {task} to a worker: the broker (Redis at "
                f"{self.settings.redis_url}) does not answer ({exc}); retry in a moment"
            ) from exc
