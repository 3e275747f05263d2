"""Logs: every line carries the session it is about (``-`` if none), as text or JSON.

The session is a context variable: the API binds it for a request about a session, the
service for the work it does on one, and asyncio tasks started from there inherit it, so
the lines of a session's launch, updates and dev server all carry its id without passing
it around. ``KONTEXT_LOG_FORMAT=json`` writes one JSON object a line (python-json-logger)
with ``time``, ``level``, ``logger``, ``session`` and ``message``.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

import click
from pythonjsonlogger.json import JsonFormatter

SESSION: ContextVar[str] = ContextVar("kontext_session", default="-")


def plain(text: str) -> str:
    """``text`` without terminal escapes (colours, cursor moves): the output of npm, Vite and
    compilers is read by people and by the chat's AI, not by a terminal. click's ``unstyle``
    (its ANSI pattern), kept behind this one name so the domain needs no CLI library."""
    return click.unstyle(text)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(session)s] %(message)s"


def bind_session(session_id: str) -> None:
    """The current request or task is about this session (until it ends)."""
    SESSION.set(session_id)


class SessionFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "session"):
            record.session = SESSION.get()
        return True


def configure_logging(level: str, fmt: Literal["text", "json"] = "text") -> None:
    """One handler on the root logger (uvicorn's and Celery's loggers propagate to it)."""
    handler = logging.StreamHandler()
    handler.addFilter(SessionFilter())
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(session)s %(message)s",
                rename_fields={
                    "asctime": "time",
                    "levelname": "level",
                    "name": "logger",
                },
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    # httpx logs every request at info: every module the proxy fetches for a page.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))


@contextmanager
def session_bound(session_id: str) -> Iterator[None]:
    """Log lines (and tasks started) inside are about this session; then as before."""
    token = SESSION.set(session_id)
    try:
        yield
    finally:
        SESSION.reset(token)
