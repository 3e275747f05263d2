"""A container's only door: its dev server's Unix socket, published on a port of this node.

A Docker sandbox has no network at all (``network_mode: none``), so nothing can
reach it, nor can it reach anything, over IP. Its agent listens on a Unix socket
in a folder shared with this node, and :class:`UnixSocketForwarder` accepts TCP
connections on ``sandbox_bind_host`` (loopback by default) and joins each to that
socket, byte for byte (HTTP and the HMR WebSocket alike).

The folder is writable by the container, so the untrusted code in it could swap
the socket for a symlink to a socket of the host (the Docker engine's, say) and
have the preview's traffic sent there. Each connection therefore opens the path
with ``O_PATH | O_NOFOLLOW``, checks that it is a socket, and connects through
``/proc/self/fd/N``: the inode checked is the inode connected to.
"""

import asyncio
import contextlib
import os
import stat
from pathlib import Path

from kontext_preview.errors import SandboxError
from kontext_preview.sandbox.ports import PortPool

CHUNK = 64 * 1024


class UnixSocketForwarder:
    def __init__(self, socket_path: Path, pool: PortPool):
        self.socket_path = socket_path
        self.pool = pool
        self.port = 0
        self._server: asyncio.Server | None = None
        self._joins: set[asyncio.Task[None]] = set()

    async def open(self) -> int:
        """Listen on a free port of the pool; return it."""
        for port in self.pool.candidates():
            try:
                self._server = await asyncio.start_server(self._join, self.pool.host, port)
            except OSError:
                continue
            self.port = port
            self.pool.in_use.add(port)
            return port
        raise self.pool.exhausted()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
            for join in list(self._joins):
                join.cancel()
            self.pool.in_use.discard(self.port)

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await open_unix_safely(self.socket_path)

    async def _join(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._joins.add(task)
        try:
            upstream_reader, upstream_writer = await self.connect()
        except SandboxError:
            writer.close()
            self._joins.discard(task)
            return
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        finally:
            for each in (writer, upstream_writer):
                each.close()
            self._joins.discard(task)


async def open_unix_safely(
    socket_path: Path,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the socket itself, never to what a symlink there points at (and
    whatever the length of its path: Unix socket paths are limited to 108 bytes)."""
    try:
        fd = os.open(socket_path, os.O_PATH | os.O_NOFOLLOW)
    except OSError as exc:
        raise SandboxError(f"the dev server's socket is not there: {exc.strerror}") from None
    try:
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            raise SandboxError(f"{socket_path.name} is not a socket; refusing it")
        return await asyncio.open_unix_connection(f"/proc/self/fd/{fd}", limit=CHUNK)
    except OSError as exc:
        raise SandboxError(f"the dev server does not answer: {exc.strerror}") from None
    finally:
        os.close(fd)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        with contextlib.suppress(Exception):
            writer.close()
