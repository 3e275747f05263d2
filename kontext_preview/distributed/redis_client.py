"""The Redis connections both sides use, and how their failures reach the API.

Each caller gets a client made for how long it waits (:func:`connect`): short commands
share a pool whose reads give up after ``redis_socket_timeout_seconds``; a wait for a
worker's reply (BLPOP, up to ``update_timeout_seconds``) has a pool of its own with no
read timeout shorter than the wait; the event streams' one blocking read has a
connection of its own (:mod:`~kontext_preview.distributed.stream_hub`). So a blocking
read never holds a connection a short command waits for, and a slow worker is never
taken for a Redis that does not answer. A pool that is full makes its caller wait for a
free connection (redis-py's BlockingConnectionPool), never fail at once.

A Redis that does not answer is the product's :class:`~kontext_preview.errors.StoreUnavailable`
(HTTP 503, retry): :func:`store_errors` turns redis-py's errors into it at the edge of
every distributed component the API calls.
"""

import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterator
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from kontext_preview.errors import StoreUnavailable

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

# redis-py's types say every reply may be bytes or str; with decode_responses=False it is
# always bytes. The client is typed loosely rather than cast at every call.
RedisClient = Any


CONNECT_TIMEOUT_SECONDS = 5.0


def connect(
    url: str,
    *,
    max_connections: int = 64,
    socket_timeout: float | None = 5.0,
    pool_wait: float | None = None,
) -> RedisClient:
    """A client on its own pool of at most ``max_connections`` (a caller waits up to
    ``pool_wait`` s for a free one, by default ``socket_timeout``, then gets a
    ConnectionError); a read gives up after ``socket_timeout`` s (None: never; for
    commands that block in Redis for a time they name)."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=pool_wait if pool_wait is not None else socket_timeout,
        socket_timeout=socket_timeout,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        health_check_interval=30,
        decode_responses=False,
    )
    return Redis.from_pool(pool)


@contextlib.contextmanager
def store_errors(url: str) -> Iterator[None]:
    """Raise StoreUnavailable (503) for any RedisError inside (``url``: for the message)."""
    try:
        yield
    except RedisError as exc:
        log.warning("Redis at %s: %s: %s", url, type(exc).__name__, exc)
        raise StoreUnavailable(
            f"the session store (Redis at {url}) does not answer ({type(exc).__name__}); "
            "retry in a moment: sending the same files again is harmless (an update queued "
            "just before the store went away is applied once)"
        ) from exc


def translates_store_errors(
    method: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """A coroutine method of an object with ``settings`` whose RedisErrors become
    StoreUnavailable."""

    @wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with store_errors(args[0].settings.redis_url):  # type: ignore[attr-defined]
            return await method(*args, **kwargs)

    return wrapper
