"""Requests from the API to a worker node: the payload in (files and
:class:`~kontext_preview.distributed.protocol.RequestMeta`), the reply out
(:class:`~kontext_preview.distributed.protocol.Reply`)."""

import asyncio
from collections.abc import Mapping
from typing import Any

from redis.asyncio.client import Pipeline
from redis.exceptions import TimeoutError as RedisTimeout

from kontext_preview.distributed.keys import Keys
from kontext_preview.distributed.lua import ABANDON_REQUEST
from kontext_preview.distributed.protocol import Reply, ReplyError, RequestMeta
from kontext_preview.distributed.redis_client import RedisClient
from kontext_preview.errors import KontextError

META = b"\x00meta"  # the payload hash's metadata field (no file name can start with NUL)
SEQ = b"\x00seq"  # the update's number, set by the API's enqueue script
PAYLOAD_TTL_SECONDS = 3600
REPLY_TTL_SECONDS = 120


def write_payload(
    pipe: Pipeline, keys: Keys, request_id: str, files: Mapping[str, bytes], meta: RequestMeta
) -> None:
    key = keys.payload(request_id)
    mapping: dict[bytes, bytes] = {META: meta.model_dump_json().encode()}
    mapping.update((name.encode(), content) for name, content in files.items())
    pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
    pipe.expire(key, PAYLOAD_TTL_SECONDS)


def read_payload(raw: Mapping[bytes, bytes]) -> tuple[dict[str, bytes], RequestMeta] | None:
    """A payload as read with HGETALL: its files and meta; None if it is gone (answered,
    or expired after PAYLOAD_TTL_SECONDS)."""
    if META not in raw:
        return None
    meta = RequestMeta.model_validate_json(raw[META])
    if SEQ in raw:
        meta.seq = int(raw[SEQ])
    files = {name.decode(): content for name, content in raw.items() if name not in (META, SEQ)}
    return files, meta


def ok_reply(result: dict[str, Any]) -> Reply:
    return Reply(ok=True, result=result)


def error_reply(error: KontextError) -> Reply:
    return Reply(
        ok=False,
        error=ReplyError(code=error.code, message=error.message, status=error.status_code),
    )


class ReplyTimeout(KontextError):
    status_code = 504
    code = "worker_timeout"


def write_reply(pipe: Pipeline, keys: Keys, request_id: str, reply: Reply) -> None:
    pipe.lpush(keys.reply(request_id), reply.model_dump_json())
    pipe.expire(keys.reply(request_id), REPLY_TTL_SECONDS)


# s: how much longer than the BLPOP's own timeout Redis may take to answer it before it
# is taken as not answering (the reply client has no read timeout of its own).
REDIS_GRACE_SECONDS = 5.0


async def wait_reply(
    redis: RedisClient, keys: Keys, request_id: str, seconds: float, what: str
) -> dict[str, Any]:
    """The worker's result, or the error it reported, raised as a KontextError
    (ReplyTimeout, 504, if none comes within ``seconds``). ``redis``: a client without a
    read timeout shorter than ``seconds`` (the API's reply client); a Redis that does
    not answer within ``seconds`` + REDIS_GRACE_SECONDS raises redis' TimeoutError."""
    try:
        async with asyncio.timeout(seconds + REDIS_GRACE_SECONDS):
            answer = await redis.blpop([keys.reply(request_id)], timeout=seconds)
    except TimeoutError:
        raise RedisTimeout(f"no answer to a {seconds:g} s BLPOP") from None
    return _result(answer[1] if answer else None, what, seconds)


async def abandon(redis: RedisClient, keys: Keys, request_id: str) -> dict[str, Any] | None:
    """Stop waiting for a request: its reply if it came meanwhile (raised as wait_reply
    raises it), else None, and no worker will carry it out from now on."""
    raw = await ABANDON_REQUEST.bind(redis)(
        reply=keys.reply(request_id),
        abandoned=keys.abandoned(request_id),
        payload=keys.payload(request_id),
        ttl_seconds=PAYLOAD_TTL_SECONDS,
    )
    return None if raw is None else _result(raw, "request", 0)


def _result(raw: bytes | None, what: str, seconds: float) -> dict[str, Any]:
    if raw is None:
        raise ReplyTimeout(
            f"no worker answered the {what} within {seconds:g} s (KONTEXT_UPDATE_TIMEOUT_SECONDS); "
            "it is queued and will be applied in order when the session's worker is back — "
            "GET the session to follow it"
        )
    reply = Reply.model_validate_json(raw)
    if reply.ok:
        return reply.result or {}
    error = reply.error or ReplyError(
        code="internal_error", message="the worker failed", status=500
    )
    raise KontextError(error.message, status_code=error.status, code=error.code)
