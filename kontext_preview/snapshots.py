"""A page's snapshot: what a preview's pages loaded, kept while its dev server sleeps, so
that the wake's first page load is answered at once (issue 19).

A woken dev server takes about 0.6 s to serve and the page's first load in dev mode as
long again (each module transformed on request). Instead, before a session hibernates,
the supervisor asks the agent which requests its pages made (``page-load``: method GET,
URL, ``Accept`` and ``Sec-Fetch-Dest``, the most recent last), fetches each again from
the still-running dev server with the same headers (so Vite answers as it did: a
stylesheet is a module for ``import`` and CSS for a ``<link>``), and writes the answers
under ``<KONTEXT_DEPLOYMENTS_DIR>/<session>/snapshot/``: ``index.json`` and the bodies,
each named by its SHA-256 (a body two URLs share is kept once). That folder is the one
the API serves published sites from, so in distributed mode the API reads what a worker
wrote, as it does for deployments.

While the session wakes, the proxy answers the requests the snapshot has from it, holds
the others (and the page's HMR socket) until the dev server serves, and the page goes on
with the live dev server (:class:`SnapshotReader`). The dev server transforms the
snapshot's modules as it starts (``SandboxSpec.warm_urls``), so its module graph knows
what the page runs. The snapshot is of the files as they were when it was taken (``key``:
their digest, :func:`files_digest`); the update path removes it before any file changes
(:func:`drop`), so it only ever shows what a fresh load of the session's files shows.
"""

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from kontext_preview.config import Settings

log = logging.getLogger(__name__)

INDEX = "index.json"
KEPT_HEADERS = ("content-type", "cache-control", "etag")
CAPTURE_CONCURRENCY = 8
# Marks the service's own fetches, which the agent does not record as a page's.
CAPTURE_HEADER = "x-kontext-snapshot"


class CaptureFailed(Exception):
    """The dev server's answers could not be fetched or kept (the message says why)."""


def snapshot_folder(settings: Settings, session_id: str) -> Path:
    return settings.deploy_root / session_id / "snapshot"


def files_digest(files: Mapping[str, bytes]) -> str:
    """SHA-256 (hex) over the files' names and contents, in name order."""
    outer = hashlib.sha256()
    for name in sorted(files):
        outer.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return outer.hexdigest()


def variant(accept: str | None, dest: str | None) -> str:
    """Which answer of a URL a request asks for: ``document`` (a navigation), ``css`` (a
    ``<link>``'s stylesheet) or ``""`` (a module, an asset: Vite answers by the URL)."""
    accept = accept or ""
    if dest in ("document", "iframe") or (not dest and "text/html" in accept):
        return "document"
    return "css" if accept.startswith("text/css") else ""


@dataclass(frozen=True)
class Entry:
    url: str
    variant: str
    headers: tuple[tuple[str, str], ...]
    blob: str  # SHA-256 hex of the body, its file's name
    size: int


@dataclass(frozen=True)
class PageSnapshot:
    """A snapshot as read from its folder; ``key`` is the files' digest at capture."""

    folder: Path
    key: str
    entries: Mapping[tuple[str, str], Entry]

    def lookup(self, url: str, accept: str | None, dest: str | None) -> Entry | None:
        return self.entries.get((url, variant(accept, dest)))

    def body(self, entry: Entry) -> bytes:
        return (self.folder / entry.blob).read_bytes()

    @property
    def module_urls(self) -> list[str]:
        """What the dev server transforms when it wakes: every URL but the pages'."""
        return [url for url, kind in self.entries if kind == ""]

    @classmethod
    def read(cls, folder: Path) -> "PageSnapshot | None":
        """The snapshot in ``folder``; None if there is none (or it cannot be read)."""
        try:
            index = json.loads((folder / INDEX).read_text())
            entries = [
                Entry(e["url"], e["variant"], tuple(map(tuple, e["headers"])), e["blob"], e["size"])
                for e in index["entries"]
            ]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return cls(folder, str(index.get("key", "")), {(e.url, e.variant): e for e in entries})


async def capture(
    folder: Path,
    base_url: str,
    host: str,
    requests: Sequence[Mapping[str, Any]],
    key: str,
    max_bytes: int,
) -> PageSnapshot | None:
    """Fetch ``requests`` (the agent's ``page-load``) from the dev server at ``base_url``
    (``http://host:port``, asked for ``host``, the preview's host name, as Vite allows) and
    keep the answers (status 200) in ``folder``, replacing what was there. Nothing is kept
    when there was nothing to fetch or the bodies pass ``max_bytes``; the folder is
    written whole, then put in place, so a reader never sees half a snapshot.

    Raises CaptureFailed, with the reason."""
    wanted: dict[tuple[str, str], Mapping[str, Any]] = {}
    for request in requests:
        url = str(request.get("url", ""))
        if url.startswith("/"):
            wanted[(url, variant(request.get("accept"), request.get("dest")))] = request
    if not wanted:
        return None
    try:
        found = await _fetch_page(base_url, host, wanted, max_bytes)
        return None if found is None else await asyncio.to_thread(_write, folder, key, found)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise CaptureFailed(f"{type(exc).__name__}: {exc}") from exc


Found = list[tuple[tuple[str, str], list[tuple[str, str]], bytes]]


async def _fetch_page(
    base_url: str, host: str, wanted: dict[tuple[str, str], Mapping[str, Any]], max_bytes: int
) -> Found | None:
    """The answers to ``wanted`` and to what their modules import, or None when they are
    not a whole page or pass ``max_bytes``."""
    limit = asyncio.Semaphore(CAPTURE_CONCURRENCY)
    found: Found = []
    size = 0
    async with aiohttp.ClientSession(
        base_url, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
    ) as client:

        async def fetch(request: Mapping[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
            headers = {"host": host, "accept-encoding": "identity", CAPTURE_HEADER: "1"}
            for name in ("accept", "dest"):
                if request.get(name):
                    headers["sec-fetch-dest" if name == "dest" else name] = str(request[name])
            async with limit, client.get(request["url"], headers=headers) as answer:
                kept = [(k.lower(), v) for k, v in answer.headers.items()]
                kept = [(k, v) for k, v in kept if k in KEPT_HEADERS]
                return answer.status, kept, await answer.read()

        # What the pages asked for, then what those modules import that no page asked for
        # (the page's modules are fetched as they are now: a dependency re-bundled since
        # the page loaded names chunks it never saw), until nothing new is named.
        batch = list(wanted.items())
        imported: set[str] = set()
        while batch and len(wanted) <= MAX_ENTRIES:
            answers = await asyncio.gather(*(fetch(r) for _, r in batch))
            named: dict[tuple[str, str], Mapping[str, Any]] = {}
            for (where, _), (status, headers, body) in zip(batch, answers, strict=True):
                if status != 200:
                    continue
                found.append((where, headers, body))
                size += len(body)
                if _is_script(headers):
                    for url in imported_urls(body):
                        imported.add(url)
                        if (url, "") not in wanted:
                            named[(url, "")] = {"url": url, "accept": "*/*", "dest": "script"}
            if size > max_bytes:
                log.info(
                    "page snapshot not kept: over %d bytes (KONTEXT_SNAPSHOT_MAX_BYTES)", max_bytes
                )
                return None
            wanted.update(named)
            batch = list(named.items())
    # Only a whole page is kept: a module whose import the dev server did not answer (its
    # dependency optimizer was re-bundling, a 504) would leave the woken page waiting for a
    # bundle the next dev server may not have.
    missing = imported - {url for (url, kind), _, _ in found if kind == ""}
    if missing:
        log.info(
            "page snapshot not kept: %d imports unanswered, e.g. %s", len(missing), min(missing)
        )
        return None
    return found


# Static and dynamic imports of a module as Vite serves it (its import analysis has made
# every specifier a URL; those of the page's origin start with one "/"): `from "/x"`,
# `import "/x"`, `import("/x")`. A name this misses is fetched from the dev server once it
# serves; one it finds wrongly is fetched and dropped unless it answers 200.
IMPORTED_URL = re.compile(rb"""(?:\bfrom\s*|\bimport\s*\(?\s*)(["'])(/(?!/)[^"'\s]{0,2000})\1""")
MAX_ENTRIES = 4000


def imported_urls(code: bytes) -> list[str]:
    """The page-origin URLs a served module imports (see IMPORTED_URL)."""
    return [m.group(2).decode("utf-8", "replace") for m in IMPORTED_URL.finditer(code)]


def _is_script(headers: Sequence[tuple[str, str]]) -> bool:
    return any(k == "content-type" and "javascript" in v for k, v in headers)


def _write(folder: Path, key: str, found: Found) -> PageSnapshot:
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = folder.parent / f".snapshot-{secrets.token_hex(6)}"
    temporary.mkdir()
    entries = []
    for (url, kind), headers, body in found:
        blob = hashlib.sha256(body).hexdigest()
        path = temporary / blob
        if not path.exists():
            path.write_bytes(body)
        entries.append(
            {"url": url, "variant": kind, "headers": headers, "blob": blob, "size": len(body)}
        )
    (temporary / INDEX).write_text(json.dumps({"key": key, "entries": entries}))
    drop_now(folder)
    temporary.rename(folder)
    snapshot = PageSnapshot.read(folder)
    assert snapshot is not None
    return snapshot


def drop(folder: Path) -> bool:
    """Make the snapshot in ``folder`` unusable at once (its index goes: one system call,
    cheap enough for the update path) and say whether there was one; the bodies are left
    for :func:`drop_now`, or for the session's removal."""
    try:
        (folder / INDEX).unlink()
    except FileNotFoundError:
        return False
    return True


def drop_now(folder: Path) -> None:
    """Remove the snapshot in ``folder`` whole (blocking)."""
    drop(folder)
    shutil.rmtree(folder, ignore_errors=True)


class SnapshotReader:
    """The proxy's side: each session's snapshot, read once and again whenever its index
    changes (a newer capture) or goes (an update dropped it)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._read: dict[str, tuple[int, PageSnapshot]] = {}

    async def get(self, session_id: str) -> PageSnapshot | None:
        folder = snapshot_folder(self.settings, session_id)
        try:
            changed = (await asyncio.to_thread((folder / INDEX).stat)).st_mtime_ns
        except OSError:
            self._read.pop(session_id, None)
            return None
        known = self._read.get(session_id)
        if known and known[0] == changed:
            return known[1]
        snapshot = await asyncio.to_thread(PageSnapshot.read, folder)
        if snapshot is None:
            return None
        self._read[session_id] = (changed, snapshot)
        return snapshot

    async def body(self, snapshot: PageSnapshot, entry: Entry) -> bytes | None:
        """The entry's body; None if the snapshot went meanwhile."""
        with contextlib.suppress(OSError):
            return await asyncio.to_thread(snapshot.body, entry)
        return None

    def forget(self, session_id: str) -> None:
        self._read.pop(session_id, None)
