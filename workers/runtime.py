"""A worker node's runtime: the event loop its sessions live on, its heartbeat, its cull and
its wake-up channel (the sessions themselves: ``workers/node_sessions.py``).

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
import logging
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from celery import Celery
from prometheus_client import start_http_server

from kontext_preview.config import Settings
from kontext_preview.contract import SessionStatus
from kontext_preview.distributed import registry
from kontext_preview.distributed.celery_app import make_celery
from kontext_preview.distributed.event_stream import RedisEventLog
from kontext_preview.distributed.keys import Keys
from kontext_preview.distributed.protocol import (
    APPLY_UPDATES_TASK,
    NodeBeat,
    node_queue,
)
from kontext_preview.distributed.redis_client import RedisClient, connect
from kontext_preview.distributed.writer import Writer
from kontext_preview.metrics import Metrics
from kontext_preview.previews.engine import SessionEngine
from workers.failover import fail_over
from workers.node_sessions import NodeSessions

log = logging.getLogger(__name__)
T = TypeVar("T")


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
        self.metrics = Metrics()
        self.redis: RedisClient
        self._pubsub: RedisClient
        self._celery: Celery | None = None
        self.writer: Writer
        self.events: RedisEventLog
        self.sessions: NodeSessions
        self.engine: SessionEngine

    # -- lifecycle (called from Celery's signal handlers) ------------------------------------

    def start(self) -> None:
        self._thread.start()
        self.call(self._setup())

    def restore(self) -> None:
        self.call(self.sessions.restore_all(), timeout=None)

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
        self.redis = connect(
            settings.redis_url,
            max_connections=settings.redis_max_connections,
            socket_timeout=settings.redis_socket_timeout_seconds,
        )
        # The wake-up channel's subscription waits for messages as long as none comes.
        self._pubsub = connect(settings.redis_url, max_connections=2, socket_timeout=None)
        self.writer = Writer(self.redis)
        self.events = RedisEventLog(
            self.redis,
            self.keys,
            self.writer,
            settings.events_kept,
            settings.events_retention_seconds,
            settings.redis_url,
        )
        self.events.observers.append(self.metrics.observe)
        self.sessions = NodeSessions(
            settings, self.keys, self.redis, self.writer, self.events, self._write_heartbeat
        )
        self.engine = self.sessions.engine
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
            for session in self.engine.registry:  # the proxy shows "starting" meanwhile
                away = self.sessions.record(session).model_copy(
                    update={"status": SessionStatus.STARTING.value, "host": None, "port": None}
                )
                registry.write_record(pipe, self.keys, away)
            await pipe.execute()
        # Stop the dev servers but keep the sessions: the next worker on this node restores them.
        await self.engine.suspend_all()
        await self.writer.aclose()
        await self._pubsub.aclose()
        await self.redis.aclose()

    async def _beat(self) -> None:
        await self.writer.run(self._write_heartbeat)

    def _write_heartbeat(self, pipe: Any) -> None:
        counts = self.engine.status_counts()
        self.metrics.sessions.clear()
        for status, count in counts.items():
            self.metrics.sessions.labels(self.node, status).set(count)
        beat = NodeBeat(
            queue=node_queue(self.node),
            address=self.settings.node_address,
            sessions=len(self.engine.registry),
            capacity=self.settings.max_sessions,
            heartbeat=time.time(),
            statuses=counts,
        )
        registry.heartbeat(pipe, self.keys, self.node, beat)

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.node_heartbeat_seconds)
            try:
                await self._beat()
            except Exception:
                log.exception("node %s: heartbeat failed", self.node)
                continue
            try:
                await fail_over(
                    self.redis,
                    self.keys,
                    self.settings.node_heartbeat_seconds,
                    self._restore_on,
                    self.settings.events_kept,
                )
            except Exception:
                log.exception("node %s: moving a dead node's sessions failed", self.node)

    def _restore_on(self, session_id: str, node: str) -> None:
        """Send ``node`` the task that restores a session moved to it (and applies its
        inbox), through a Celery app of the runtime's own (as the API sends tasks)."""
        if self._celery is None:
            self._celery = make_celery(self.settings)
        self._celery.send_task(APPLY_UPDATES_TASK, [session_id], queue=node_queue(node))

    async def _cull_forever(self) -> None:
        """Hibernate this node's idle sessions (beat expires sessions cluster-wide)."""
        while True:
            await asyncio.sleep(self.settings.reap_interval_seconds)
            try:
                await self.sync_activity()
                await self.engine.cull(expire=False)
            except Exception:
                log.exception("node %s: the cull of idle sessions failed", self.node)

    async def sync_activity(self) -> None:
        """Activity is recorded by the API (the expiry set): bring it to the sessions here."""
        ids = self.engine.registry.ids()
        if not ids:
            return
        scores = await self.redis.zmscore(self.keys.sessions, ids)
        for session_id, expires in zip(ids, scores, strict=True):
            session = self.engine.find(session_id)
            if session is not None and expires is not None:
                session.last_activity = max(
                    session.last_activity, float(expires) - session.ttl_seconds
                )

    async def resume(self, session_id: str) -> None:
        session = self.engine.find(session_id)
        if session is not None:
            session.touch()
            self.engine.resume(session)

    async def _listen_for_wakes(self) -> None:
        """Start applying a session's updates as soon as the API nudges this node, instead of
        when Celery delivers the task (which then finds the inbox empty). Only a shortcut:
        without it (a lost message, a reconnect) the task does the same work."""
        channel = self.keys.wake(self.node)
        while True:
            try:
                async with self._pubsub.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(channel)
                    async for message in pubsub.listen():
                        session_id = message["data"].decode()
                        if self.engine.find(session_id) is not None:
                            task = asyncio.ensure_future(self.sessions.apply_inbox(session_id))
                            task.add_done_callback(_log_failure)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("node %s: wake-up channel failed; reconnecting", self.node)
                await asyncio.sleep(1)


def _log_failure(task: "asyncio.Future[None]") -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("applying updates failed", exc_info=task.exception())


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
