"""A worker node's runtime: the sessions this node hosts, their Vite processes, and their
mirror in Redis.

Celery runs tasks in threads (``-P threads``); the sandboxes need one long-lived
event loop, which lives here in its own thread. Tasks hand their work to it with
:meth:`NodeRuntime.call`. Vite processes belong to the runtime, not to a task,
so they outlive every task; when the worker process dies, each agent exits with
it (its stdin closes), and the restarted worker restores the node's sessions
from the files committed in Redis, then applies the updates still in their
inboxes.
"""

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from prometheus_client import start_http_server

from kontext_preview.config import Settings
from kontext_preview.distributed import registry
from kontext_preview.distributed.keys import Keys
from kontext_preview.distributed.redis_io import (
    RedisClient,
    RedisEventLog,
    Write,
    Writer,
    connect,
    error_reply,
    ok_reply,
    read_payload,
    write_reply,
)
from kontext_preview.errors import KontextError, SessionNotFound
from kontext_preview.logs import bind_session
from kontext_preview.metrics import Metrics
from kontext_preview.previews.front import deployment_dict, update_response
from kontext_preview.previews.service import PreviewService, with_package_json
from kontext_preview.previews.session import PreviewSession
from kontext_preview.previews.store import SessionStore
from kontext_preview.previews.updates import PendingUpdate, UpdateResult
from kontext_preview.sandbox import create_backend

log = logging.getLogger(__name__)
T = TypeVar("T")


# The inbox's request ids, each followed by its payload (HGETALL), in one round trip.
READ_INBOX = """
local out = {}
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGETALL', ARGV[1] .. id)
end
return out
"""


class RedisSessionStore(SessionStore):
    """Mirrors this node's sessions into the registry, through the node's ordered writer."""

    def __init__(self, runtime: "NodeRuntime"):
        self.runtime = runtime

    def saved(self, session: PreviewSession) -> None:
        self.runtime.writer.submit(lambda pipe: self.runtime.write_record(pipe, session))

    def logged(self, session: PreviewSession, line: str) -> None:
        key, limit = self.runtime.keys.logs(session.id), self.runtime.settings.log_lines

        def write(pipe: Any) -> None:
            pipe.rpush(key, line[:2000])
            pipe.ltrim(key, -limit, -1)

        self.runtime.writer.submit(write)

    async def removed(self, session_id: str, owner: str, reason: str) -> None:
        runtime = self.runtime
        settings = runtime.settings
        await runtime.writer.run(
            lambda pipe: registry.purge(
                pipe,
                runtime.keys,
                session_id,
                settings.node_name,
                None,
                settings.events_retention_seconds,
                registry.ended_for(settings, reason, owner),
            )
        )


class NodeRuntime:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.node = settings.node_name
        self.keys = Keys(settings.redis_prefix)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="kontext-runtime", daemon=True)
        self._heartbeat: asyncio.Future[None] | None = None
        self._wakes: asyncio.Future[None] | None = None
        self._cull: asyncio.Future[None] | None = None
        # Each session's files as last committed to Redis: what the next commit diffs against.
        self.committed: dict[str, dict[str, bytes]] = {}
        self.metrics = Metrics()
        self.redis: RedisClient
        self.writer: Writer
        self.events: RedisEventLog
        self.service: PreviewService

    # -- lifecycle (called from Celery's signal handlers) ------------------------------------

    def start(self) -> None:
        self._thread.start()
        self.call(self._setup())

    def restore(self) -> None:
        self.call(self._restore_all(), timeout=None)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.call(self._teardown(), timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 300) -> T:
        """Run a coroutine on the runtime's loop from a task thread and wait for it."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def _setup(self) -> None:
        settings = self.settings
        self.redis = connect(settings.redis_url)
        self.writer = Writer(self.redis)
        self._read_inbox = self.redis.register_script(READ_INBOX)
        self.events = RedisEventLog(
            self.redis,
            self.keys,
            self.writer,
            settings.events_kept,
            settings.events_retention_seconds,
        )
        self.events.observers.append(self.metrics.observe)
        self.service = PreviewService(
            settings, create_backend(settings), events=self.events, store=RedisSessionStore(self)
        )
        if settings.metrics_port:
            start_http_server(
                settings.metrics_port, settings.sandbox_bind_host, registry=self.metrics.registry
            )
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await self._beat()
        self._heartbeat = asyncio.ensure_future(self._beat_forever())
        self._wakes = asyncio.ensure_future(self._listen_for_wakes())
        self._cull = asyncio.ensure_future(self._cull_forever())
        log.info("node %s: runtime ready (queue %s)", self.node, self.keys.node_sessions(self.node))

    async def _teardown(self) -> None:
        for task in (self._heartbeat, self._wakes, self._cull):
            if task:
                task.cancel()
        await self.redis.hdel(self.keys.nodes, self.node)  # take no new sessions
        async with self.redis.pipeline(transaction=True) as pipe:
            for session_id in self.service.sessions:  # the proxy shows "starting" meanwhile
                pipe.hset(
                    self.keys.session(session_id),
                    mapping={"status": "starting", "host": "", "port": ""},
                )
            await pipe.execute()
        # Stop the dev servers but keep the sessions: the next worker on this node restores them.
        await self.service.suspend_all()
        await self.writer.aclose()
        await self.redis.aclose()

    async def _beat(self) -> None:
        await self.writer.run(self._write_heartbeat)

    def _write_heartbeat(self, pipe: Any) -> None:
        census = self.service.census()
        self.metrics.sessions.clear()
        for status, count in census.items():
            self.metrics.sessions.labels(self.node, status).set(count)
        registry.heartbeat(
            pipe,
            self.keys,
            self.node,
            self.settings.node_address,
            len(self.service.sessions),
            self.settings.max_sessions,
            census,
        )

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.node_heartbeat_seconds)
            try:
                await self._beat()
            except Exception:
                log.exception("node %s: heartbeat failed", self.node)

    async def _cull_forever(self) -> None:
        """Hibernate this node's idle sessions (beat expires sessions cluster-wide)."""
        while True:
            await asyncio.sleep(self.settings.reap_interval_seconds)
            try:
                await self.sync_activity()
                await self.service.cull(expire=False)
            except Exception:
                log.exception("node %s: the cull of idle sessions failed", self.node)

    async def sync_activity(self) -> None:
        """Activity is recorded by the API (the expiry set): bring it to the sessions here."""
        ids = list(self.service.sessions)
        if not ids:
            return
        scores = await self.redis.zmscore(self.keys.sessions, ids)
        for session_id, expires in zip(ids, scores, strict=True):
            session = self.service.sessions.get(session_id)
            if session is not None and expires is not None:
                session.last_activity = max(
                    session.last_activity, float(expires) - session.ttl_seconds
                )

    async def resume(self, session_id: str) -> None:
        session = self.service.sessions.get(session_id)
        if session is not None:
            session.touch()
            self.service.resume(session)

    async def _listen_for_wakes(self) -> None:
        """Start applying a session's updates as soon as the API nudges this node, instead of
        when Celery delivers the task (which then finds the inbox empty). Only a shortcut:
        without it (a lost message, a reconnect) the task does the same work."""
        channel = self.keys.wake(self.node)
        while True:
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(channel)
                    async for message in pubsub.listen():
                        session_id = message["data"].decode()
                        if session_id in self.service.sessions:
                            task = asyncio.ensure_future(self.drain(session_id))
                            task.add_done_callback(_log_failure)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("node %s: wake-up channel failed; reconnecting", self.node)
                await asyncio.sleep(1)

    # -- the registry record ------------------------------------------------------------------

    def write_record(self, pipe: Any, session: PreviewSession) -> None:
        """The session's record as it is now (skipped once the session has ended here)."""
        if self.service.sessions.get(session.id) is session:
            pipe.hset(self.keys.session(session.id), mapping=self.record_fields(session))

    def record_fields(self, session: PreviewSession) -> dict[str, str]:
        sandbox = session.sandbox
        return {
            "id": session.id,
            "node": self.node,
            "owner": session.owner,
            "status": session.status.value,
            "error": session.error or "",
            "framework": session.layout.framework,
            "viteRoot": session.layout.vite_root,
            "projectType": session.project_type or "",
            "host": self.settings.node_address if sandbox else "",
            "port": str(sandbox.endpoint.port) if sandbox else "",
            "files": str(len(session.vfs.files)),
            "createdAt": repr(session.created_at),
            "ttl": str(session.ttl_seconds),
            "deployments": json.dumps(
                [deployment_dict(d) for d in self.service.deployments.deployments(session.id)]
            ),
            "deploymentUrl": self.service.deployment_url(session.id) or "",
            "fallback": session.fallback or "",
        }

    def _commit_files(
        self, pipe: Any, session_id: str, before: dict[str, bytes], after: dict[str, bytes]
    ) -> None:
        changed = {name: data for name, data in after.items() if before.get(name) is not data}
        removed = [name for name in before if name not in after]
        if changed:
            pipe.hset(self.keys.files(session_id), mapping=changed)
        if removed:
            pipe.hdel(self.keys.files(session_id), *removed)

    # -- task bodies (run on the runtime loop) ------------------------------------------------

    async def create(self, session_id: str, request_id: str) -> None:
        """Create a session from a request's payload; idempotent (a redelivered task
        answers with the session as it is)."""
        keys = self.keys
        bind_session(session_id)
        existing = self.service.sessions.get(session_id)
        if existing is not None:
            await self.writer.run(lambda pipe: self._reply_record(pipe, existing, request_id))
            return
        payload = read_payload(await self.redis.hgetall(keys.payload(request_id)))
        if payload is None:
            return  # answered before (the payload goes with the answer)
        files, meta = payload
        try:
            session = await self.service.create(
                files,
                meta.get("packageJson"),
                meta.get("projectType"),
                owner=meta.get("owner") or "local",
                new_id=session_id,
                keep_id=bool(meta.get("keepId")),  # else a warm slot's id may stand in
            )
        except KontextError as exc:
            refused = error_reply(exc)

            def refuse(pipe: Any) -> None:
                write_reply(pipe, keys, request_id, refused)
                pipe.delete(keys.payload(request_id))

            await self.writer.run(refuse)
            return
        created, sid = session, session.id

        def commit(pipe: Any) -> None:
            self._commit_files(pipe, sid, {}, created.vfs.files)
            pipe.sadd(keys.node_sessions(self.node), sid)
            pipe.sadd(keys.owner_sessions(created.owner), sid)
            pipe.delete(keys.ended(sid))
            pipe.zadd(keys.sessions, {sid: created.expires_at})
            pipe.delete(keys.payload(request_id))
            self._reply_record(pipe, created, request_id)
            self._write_heartbeat(pipe)

        await self.writer.run(commit)
        self.committed[sid] = created.vfs.files

    def _reply_record(self, pipe: Any, session: PreviewSession, request_id: str) -> None:
        self.write_record(pipe, session)
        write_reply(pipe, self.keys, request_id, ok_reply(self.record_fields(session)))

    async def drain(self, session_id: str) -> None:
        """Apply the updates waiting in the session's inbox, in order, as one batch; commit
        the files, trim the inbox and answer each request in one transaction."""
        keys = self.keys
        bind_session(session_id)
        session = self.service.sessions.get(session_id)
        if session is None:
            session = await self._restore(session_id)
        if session is None:
            await self._refuse_inbox(session_id)
            return
        async with session.lock:
            request_ids = [
                r.decode() for r in await self.redis.lrange(keys.inbox(session_id), 0, -1)
            ]
            if not request_ids:
                return
            async with self.redis.pipeline(transaction=False) as pipe:
                for request_id in request_ids:
                    pipe.hgetall(keys.payload(request_id))
                raw_payloads = await pipe.execute()
            loop = asyncio.get_running_loop()
            batch: list[PendingUpdate] = []
            missing: list[str] = []
            for request_id, raw in zip(request_ids, raw_payloads, strict=True):
                payload = read_payload(raw)
                if payload is None:
                    missing.append(request_id)
                    continue
                files, meta = payload
                if meta.get("packageJson") is not None:
                    files = dict(with_package_json(files, meta["packageJson"]))
                batch.append(
                    PendingUpdate(
                        files,
                        tuple(meta.get("deleted", ())),
                        bool(meta.get("replaceAll")),
                        loop.create_future(),
                        request_id,
                        float(meta.get("receivedAt", time.time())),
                        int(meta.get("seq", 0)),
                    )
                )
            before = self.committed.get(session_id, {})
            self.events.hold(session_id)
            try:
                if batch:
                    await self.service.apply_batch(session, batch)
            finally:
                held = self.events.release(session_id)
            after = session.vfs.files
            replies = [(p.update_id, _reply_for(p, session)) for p in batch]
            replies += [
                (r, error_reply(KontextError("the update's files expired before it was applied")))
                for r in missing
            ]
            # The answers go in the commit's transaction: once the API has its answer, the
            # files, the record and the batch's events (update.applied when no page will
            # acknowledge) are stored, so a GET or the next update sees them, in order.
            # A worker that dies before the commit leaves the batch in the inbox, to be
            # applied (once) on restore.
            await self.writer.run(
                lambda pipe: self._commit_batch(
                    pipe, session, before, after, len(request_ids), request_ids, held, replies
                )
            )
            self.committed[session_id] = after

    def _commit_batch(
        self,
        pipe: Any,
        session: PreviewSession,
        before: dict[str, bytes],
        after: dict[str, bytes],
        count: int,
        request_ids: list[str],
        held: list[Write],
        replies: list[tuple[str, bytes]],
    ) -> None:
        keys = self.keys
        self._commit_files(pipe, session.id, before, after)
        self.write_record(pipe, session)
        pipe.ltrim(keys.inbox(session.id), count, -1)
        pipe.delete(*(keys.payload(r) for r in request_ids))
        for write in held:
            write(pipe)
        for request_id, reply in replies:
            write_reply(pipe, keys, request_id, reply)

    async def _refuse_inbox(self, session_id: str) -> None:
        keys = self.keys
        request_ids = [r.decode() for r in await self.redis.lrange(keys.inbox(session_id), 0, -1)]
        if not request_ids:
            return
        error = error_reply(SessionNotFound(session_id))

        def write(pipe: Any) -> None:
            pipe.delete(keys.inbox(session_id), *(keys.payload(r) for r in request_ids))
            for request_id in request_ids:
                write_reply(pipe, keys, request_id, error)

        await self.writer.run(write)

    async def delete(self, session_id: str, request_id: str | None, reason: str) -> None:
        bind_session(session_id)
        session = self.service.sessions.get(session_id)
        self.committed.pop(session_id, None)
        if session is not None:
            await self.service.delete(session_id, reason)
        else:
            record = await registry.record(self.redis, self.keys, session_id)
            if record is not None:
                await self.writer.run(
                    lambda pipe: registry.purge(
                        pipe,
                        self.keys,
                        session_id,
                        record.get("node"),
                        self.events.write(session_id, reason, {"sessionId": session_id}),
                        self.settings.events_retention_seconds,
                        registry.ended_for(self.settings, reason, record.get("owner") or ""),
                    )
                )

        def answer(pipe: Any) -> None:
            self._write_heartbeat(pipe)
            if request_id:
                write_reply(pipe, self.keys, request_id, ok_reply({}))

        await self.writer.run(answer)

    # -- restoring after a restart ------------------------------------------------------------

    async def _restore_all(self) -> None:
        members = await self.redis.smembers(self.keys.node_sessions(self.node))
        for raw in members:
            session_id = raw.decode()
            try:
                session = await self._restore(session_id)
                if session is not None:
                    await self.drain(session_id)
            except Exception:
                log.exception("node %s: could not restore session %s", self.node, session_id)
        await self.service.reap_leftovers()
        self.service.pool.start()

    async def _restore(self, session_id: str) -> PreviewSession | None:
        """Bring back a session this node hosted, from its committed files."""
        record = await registry.record(self.redis, self.keys, session_id)
        if record is None or record.get("node") != self.node:
            await self.redis.srem(self.keys.node_sessions(self.node), session_id)
            return None
        raw = await self.redis.hgetall(self.keys.files(session_id))
        files = {name.decode(): content for name, content in raw.items()}
        # The workspace is reconciled with the committed files, not replaced: a sandbox
        # left running (a container) keeps it mounted and is taken over.
        session = await self.service.create(
            files,
            None,
            record.get("projectType") or None,
            owner=record.get("owner") or "local",
            new_id=session_id,
            adopt=True,
        )
        session.created_at = float(record.get("createdAt") or session.created_at)
        expires = await registry.expires_at(self.redis, self.keys, session_id)
        if expires is not None:
            session.last_activity = expires - session.ttl_seconds
        self.committed[session_id] = session.vfs.files
        session.log(f"restored on node {self.node} from {len(files)} stored files")
        log.info("node %s: restored session %s (%d files)", self.node, session_id, len(files))
        return session

    async def reap_expired(self) -> list[tuple[str, str]]:
        """Sessions past their expiry, with the node that hosts each."""
        now = time.time()
        expired = await self.redis.zrangebyscore(self.keys.sessions, "-inf", now)
        found = []
        for raw in expired:
            session_id = raw.decode()
            record = await self.redis.hmget(self.keys.session(session_id), ["node"])
            found.append((session_id, (record[0] or b"").decode()))
        return found


def _log_failure(task: "asyncio.Future[None]") -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("applying updates failed", exc_info=task.exception())


def _reply_for(pending: PendingUpdate, session: PreviewSession) -> bytes:
    future = pending.future
    error = future.exception() if future.done() else KontextError("update was not applied")
    if error is not None:
        if isinstance(error, KontextError):
            return error_reply(error)
        log.error("update %s failed: %r", pending.update_id, error)
        return error_reply(KontextError(f"internal error: {type(error).__name__}"))
    result: UpdateResult = future.result()
    return ok_reply(update_response(result, session.status.value))


_runtime: NodeRuntime | None = None
_lock = threading.Lock()


def get_runtime() -> NodeRuntime:
    if _runtime is None:
        raise RuntimeError("this process is not a kontext-preview worker (no runtime started)")
    return _runtime


def start_runtime(settings: Settings) -> NodeRuntime:
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = NodeRuntime(settings)
            _runtime.start()
        return _runtime


def stop_runtime() -> None:
    global _runtime
    with _lock:
        if _runtime is not None:
            _runtime.stop()
            _runtime = None
