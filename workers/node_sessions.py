"""The sessions a worker node hosts: created, updated, deleted and restored from Redis.

Every request the API sends (a create, the updates in a session's inbox, a delete)
is carried out here through the node's :class:`~kontext_preview.previews.engine.SessionEngine`,
and answered in the same Redis transaction that commits its effect (files, record,
events), so an answer the API got is always stored, and a worker killed before the
commit leaves the request to be carried out once by the next one. What is written and
read is the protocol's models (:mod:`kontext_preview.distributed.protocol`).
"""

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from redis.exceptions import WatchError

from kontext_preview import events as ev
from kontext_preview.config import Settings
from kontext_preview.distributed import registry
from kontext_preview.distributed.event_stream import RedisEventLog
from kontext_preview.distributed.keys import Keys
from kontext_preview.distributed.protocol import EndedNote, Reply, RequestMeta, SessionRecord
from kontext_preview.distributed.redis_client import RedisClient
from kontext_preview.distributed.requests import error_reply, ok_reply, read_payload, write_reply
from kontext_preview.distributed.writer import Write, Writer
from kontext_preview.errors import KontextError, SessionNotFound
from kontext_preview.logs import bind_session
from kontext_preview.previews.engine import SessionEngine, with_package_json
from kontext_preview.previews.session import PreviewSession
from kontext_preview.previews.store import SessionStore
from kontext_preview.previews.updates import UpdateResult, update_outcome
from kontext_preview.sandbox import create_backend

log = logging.getLogger(__name__)


class RedisSessionStore(SessionStore):
    """Mirrors this node's sessions into the registry, through the node's ordered writer."""

    def __init__(self, sessions: "NodeSessions"):
        self.sessions = sessions

    def saved(self, session: PreviewSession) -> None:
        self.sessions.writer.submit(lambda pipe: self.sessions.write_record(pipe, session))

    def logged(self, session: PreviewSession, line: str) -> None:
        key, limit = self.sessions.keys.logs(session.id), self.sessions.settings.log_lines

        def write(pipe: Any) -> None:
            pipe.rpush(key, line[:2000])
            pipe.ltrim(key, -limit, -1)

        self.sessions.writer.submit(write)

    async def removed(self, session_id: str, owner: str, reason: str) -> None:
        sessions = self.sessions
        await sessions.writer.run(
            lambda pipe: registry.purge(
                pipe,
                sessions.keys,
                sessions.settings,
                session_id,
                sessions.node,
                None,
                EndedNote(owner=owner, reason=reason),
            )
        )


class NodeSessions:
    def __init__(
        self,
        settings: Settings,
        keys: Keys,
        redis: RedisClient,
        writer: Writer,
        events: RedisEventLog,
        heartbeat: Callable[[Any], None],
    ):
        self.settings = settings
        self.node = settings.node_name
        self.keys = keys
        self.redis = redis
        self.writer = writer
        self.events = events
        self._write_heartbeat = heartbeat  # adds the node's heartbeat to a transaction
        self.engine = SessionEngine(
            settings, create_backend(settings), events=events, store=RedisSessionStore(self)
        )
        # Each session's files as last committed to Redis: what the next commit diffs against.
        self.committed: dict[str, dict[str, bytes]] = {}
        # One reader of a session's inbox at a time (a nudge and a Celery task may race).
        self._inbox_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    # -- the registry record ------------------------------------------------------------------

    def write_record(self, pipe: Any, session: PreviewSession) -> None:
        """The session's record as it is now (skipped once the session has ended here)."""
        if self.engine.registry.holds(session):
            registry.write_record(pipe, self.keys, self.record(session))

    def record(self, session: PreviewSession) -> SessionRecord:
        sandbox = session.sandbox
        return SessionRecord(
            **dict(self.engine.facts(session)),
            node=self.node,
            owner=session.owner,
            host=self.settings.node_address if sandbox else None,
            port=sandbox.endpoint.port if sandbox else None,
            createdAt=session.created_at,
            ttl=session.ttl_seconds,
        )

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
        existing = self.engine.find(session_id)
        if existing is not None:
            await self.writer.run(lambda pipe: self._reply_record(pipe, existing, request_id))
            return
        payload = read_payload(await self.redis.hgetall(keys.payload(request_id)))
        if payload is None:
            return  # answered before (the payload goes with the answer)
        files, meta = payload
        try:
            session = await self.engine.create(
                files,
                meta.packageJson,
                meta.projectType,
                owner=meta.owner or "local",
                new_id=session_id,
                keep_id=meta.keepId,  # else a warm slot's id may stand in
            )
        except KontextError as exc:
            refused = error_reply(exc)

            def refuse(pipe: Any) -> None:
                write_reply(pipe, keys, request_id, refused)
                pipe.delete(keys.payload(request_id))

            await self.writer.run(refuse)
            return
        created, sid = session, session.id
        abandoned = keys.abandoned(request_id)

        def commit(pipe: Any) -> None:
            self._commit_files(pipe, sid, {}, created.vfs.files)
            pipe.sadd(keys.node_sessions(self.node), sid)
            pipe.sadd(keys.owner_sessions(created.owner), sid)
            pipe.delete(keys.ended(sid))
            pipe.zadd(keys.sessions, {sid: created.expires_at})
            pipe.delete(keys.payload(request_id))
            self._reply_record(pipe, created, request_id)
            self._write_heartbeat(pipe)

        # Committed unless the API gave up waiting meanwhile (then nobody can name the
        # session: it is ended). WATCH makes the check and the commit one.
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(abandoned)
                if not await pipe.exists(abandoned):
                    pipe.multi()
                    commit(pipe)
                    await pipe.execute()
                    self.committed[sid] = created.vfs.files
                    return
            except WatchError:
                pass
        log.warning("session %s: its create was called off by the API (no answer in time)", sid)
        await self.engine.delete(sid, ev.SESSION_DELETED)

    def _reply_record(self, pipe: Any, session: PreviewSession, request_id: str) -> None:
        self.write_record(pipe, session)
        write_reply(pipe, self.keys, request_id, ok_reply(self.record(session).model_dump()))

    async def apply_inbox(self, session_id: str) -> None:
        """Apply the updates waiting in the session's inbox, in order, through the engine's
        one entry point (together, as one batch); commit the files, trim the inbox and
        answer each request in one transaction."""
        keys = self.keys
        bind_session(session_id)
        session = self.engine.find(session_id)
        if session is None:
            session = await self._restore(session_id)
        if session is None:
            await self._refuse_inbox(session_id)
            return
        async with self._inbox_locks[session_id]:
            request_ids = [
                r.decode() for r in await self.redis.lrange(keys.inbox(session_id), 0, -1)
            ]
            if not request_ids:
                return
            async with self.redis.pipeline(transaction=False) as pipe:
                for request_id in request_ids:
                    pipe.hgetall(keys.payload(request_id))
                raw_payloads = await pipe.execute()
            requests: list[tuple[str, dict[str, bytes], RequestMeta]] = []
            missing: list[str] = []
            for request_id, raw in zip(request_ids, raw_payloads, strict=True):
                payload = read_payload(raw)
                if payload is None:
                    missing.append(request_id)
                else:
                    requests.append((request_id, *payload))
            before = self.committed.get(session_id, {})
            self.events.hold(session_id)
            try:
                outcomes = await self.apply_requests(session_id, requests)
            finally:
                held = self.events.release(session_id)
            after = session.vfs.files
            replies = [
                (r, _reply_for(r, outcome, session))
                for (r, _, _), outcome in zip(requests, outcomes, strict=True)
            ]
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
                    pipe, session, before, after, request_ids, held, replies
                )
            )
            self.committed[session_id] = after

    async def apply_requests(
        self, session_id: str, requests: list[tuple[str, dict[str, bytes], RequestMeta]]
    ) -> list[UpdateResult | BaseException]:
        """Apply update requests (id, files, meta) through the engine's one entry point,
        with the ids, numbers and receipt times the API gave them. Submitted together, so
        the engine applies them as one batch; each gets its result or its own error."""
        updates = []
        for request_id, files, meta in requests:
            if meta.packageJson is not None:
                files = dict(with_package_json(files, meta.packageJson))
            updates.append(
                self.engine.update(
                    session_id,
                    files,
                    meta.deleted,
                    replace_all=meta.replaceAll,
                    update_id=request_id,
                    seq=meta.seq,
                    received_at=meta.receivedAt,
                )
            )
        return await asyncio.gather(*updates, return_exceptions=True)

    def _commit_batch(
        self,
        pipe: Any,
        session: PreviewSession,
        before: dict[str, bytes],
        after: dict[str, bytes],
        request_ids: list[str],
        held: list[Write],
        replies: list[tuple[str, Reply]],
    ) -> None:
        keys = self.keys
        self._commit_files(pipe, session.id, before, after)
        self.write_record(pipe, session)
        pipe.ltrim(keys.inbox(session.id), len(request_ids), -1)
        pipe.delete(*(keys.payload(r) for r in request_ids))
        for write in held:
            write(pipe)
        for request_id, reply in replies:
            write_reply(pipe, keys, request_id, reply)

    async def _refuse_inbox(self, session_id: str) -> None:
        """The session is gone: every update waiting for it gets SessionNotFound. (One
        hosted by another node, moved there while its task waited here, is left to it.)"""
        keys = self.keys
        if await registry.record(self.redis, keys, session_id) is not None:
            return
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
        session = self.engine.find(session_id)
        self.committed.pop(session_id, None)
        self._inbox_locks.pop(session_id, None)
        if session is not None:
            await self.engine.delete(session_id, reason)
        else:
            record = await registry.record(self.redis, self.keys, session_id)
            if record is not None:
                await self.writer.run(
                    lambda pipe: registry.purge(
                        pipe,
                        self.keys,
                        self.settings,
                        session_id,
                        record.node,
                        self.events.write(session_id, reason, {"sessionId": session_id}),
                        EndedNote(owner=record.owner, reason=reason),
                    )
                )

        def answer(pipe: Any) -> None:
            self._write_heartbeat(pipe)
            if request_id:
                write_reply(pipe, self.keys, request_id, ok_reply({}))

        await self.writer.run(answer)

    # -- restoring after a restart ------------------------------------------------------------

    async def restore_all(self) -> None:
        members = await self.redis.smembers(self.keys.node_sessions(self.node))
        for raw in members:
            session_id = raw.decode()
            try:
                session = await self._restore(session_id)
                if session is not None:
                    await self.apply_inbox(session_id)
            except Exception:
                log.exception("node %s: could not restore session %s", self.node, session_id)
        await self.engine.start()

    async def _restore(self, session_id: str) -> PreviewSession | None:
        """Bring back a session this node hosted, from its committed files."""
        record = await registry.record(self.redis, self.keys, session_id)
        if record is None or record.node != self.node:
            await self.redis.srem(self.keys.node_sessions(self.node), session_id)
            return None
        raw = await self.redis.hgetall(self.keys.files(session_id))
        files = {name.decode(): content for name, content in raw.items()}
        # The workspace is reconciled with the committed files, not replaced: a sandbox
        # left running (a container) keeps it mounted and is taken over.
        session = await self.engine.create(
            files,
            None,
            record.projectType,
            owner=record.owner or "local",
            new_id=session_id,
            adopt=True,
        )
        session.created_at = record.createdAt or session.created_at
        session.update_seq = record.updateSeq
        expires = await registry.expires_at(self.redis, self.keys, session_id)
        if expires is not None:
            session.last_activity = expires - session.ttl_seconds
        self.committed[session_id] = session.vfs.files
        session.log(f"restored on node {self.node} from {len(files)} stored files")
        log.info("node %s: restored session %s (%d files)", self.node, session_id, len(files))
        return session

    async def expired_sessions(self) -> list[tuple[str, str]]:
        """Sessions past their expiry, with the node that hosts each ("" if unknown)."""
        now = time.time()
        expired = await self.redis.zrangebyscore(self.keys.sessions, "-inf", now)
        found = []
        for raw in expired:
            session_id = raw.decode()
            record = await registry.record(self.redis, self.keys, session_id)
            found.append((session_id, record.node if record else ""))
        return found


def _reply_for(
    request_id: str, outcome: UpdateResult | BaseException, session: PreviewSession
) -> Reply:
    if isinstance(outcome, KontextError):
        return error_reply(outcome)
    if isinstance(outcome, BaseException):
        log.error("update %s failed: %r", request_id, outcome)
        return error_reply(KontextError(f"internal error: {type(outcome).__name__}"))
    return ok_reply(update_outcome(outcome, session.status.value).model_dump())
