"""The Redis connection both sides use, and how its failures reach the API.

A Redis that does not answer is the product's :class:`~kontext_preview.errors.StoreUnavailable`
(HTTP 503, retry): :func:`store_errors` turns redis-py's errors into it at the edge of
every distributed component the API calls.
"""

import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterator
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from kontext_preview.errors import StoreUnavailable

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

# redis-py's types say every reply may be bytes or str; with decode_responses=False it is
# always bytes. The client is typed loosely rather than cast at every call.
RedisClient = Any


def connect(url: str) -> RedisClient:
    return Redis.from_url(url, decode_responses=False, health_check_interval=30)


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
