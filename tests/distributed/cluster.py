"""A real distributed deployment for tests: the API and Celery worker subprocesses over the
machine's Redis (db 13, a key prefix of its own, removed afterwards)."""

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.sandboxes import remove_containers_under
from tests.server import ALICE_KEY, ApiServer, auth, wait_for

REDIS_URL = "redis://127.0.0.1:6379/13"


@dataclass
class Worker:
    name: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path
    log_from: int = 0  # where this process's lines begin (a restarted node appends)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def own_log(self) -> str:
        """What this process wrote (not an earlier process of the same node)."""
        with self.log_path.open("rb") as log:
            log.seek(self.log_from)
            return log.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when a machine dies."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Cluster:
    root: Path
    prefix: str
    api: ApiServer
    settings: dict[str, Any]
    workers: dict[str, Worker] = field(default_factory=dict)

    @classmethod
    def start(
        cls, root: Path, nodes: tuple[str, ...] = ("n1",), port: int = 0, **settings: Any
    ) -> "Cluster":
        prefix = f"kp-test-{secrets.token_hex(4)}:"
        common = {
            "mode": "distributed",
            "redis_url": REDIS_URL,
            "redis_prefix": prefix,
            "pool_size": 0,
            **settings,
        }
        api = ApiServer.start(root / "n1", port=port, **common)
        cluster = cls(root, prefix, api, {**common, "public_port": api.port})
        try:
            for node in nodes:
                cluster.add_worker(node)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    @property
    def redis(self) -> "redis.Redis[bytes]":
        return redis.Redis.from_url(self.settings["redis_url"])

    def add_worker(self, name: str, *extra_args: str, **env: str) -> Worker:
        data_dir = self.root / name  # n1 shares the API's data dir (tests look there)
        data_dir.mkdir(parents=True, exist_ok=True)
        environ = {**os.environ, "KONTEXT_DATA_DIR": str(data_dir), "KONTEXT_NODE_NAME": name}
        environ.update({f"KONTEXT_{k.upper()}": str(v) for k, v in self.settings.items()})
        environ.update(env)
        log_path = self.root / f"worker-{name}.log"
        log_from = log_path.stat().st_size if log_path.exists() else 0
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "kontext_preview",
                    "worker",
                    "--concurrency",
                    "4",
                    *extra_args,
                ],
                env=environ,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        worker = Worker(name, process, data_dir, log_path, log_from)
        self.workers[name] = worker
        if not wait_for(lambda: self._ready(worker), timeout=60, interval=0.1):
            raise RuntimeError(f"worker {name} did not start:\n{worker.log()}")
        return worker

    def add_beat(self) -> Worker:
        """Celery beat (the periodic cull), logged like a worker."""
        environ = {**os.environ, "KONTEXT_DATA_DIR": str(self.root / "beat")}
        environ.update({f"KONTEXT_{k.upper()}": str(v) for k, v in self.settings.items()})
        log_path = self.root / "beat.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "kontext_preview", "beat"],
                env=environ,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        beat = Worker("beat", process, self.root / "beat", log_path)
        self.workers["beat"] = beat
        return beat

    def restart_worker(self, name: str, *extra_args: str) -> Worker:
        old = self.workers.pop(name)
        old.stop()
        return self.add_worker(name, *extra_args)

    def _ready(self, worker: Worker) -> bool:
        if worker.process.poll() is not None:
            raise RuntimeError(f"worker {worker.name} exited:\n{worker.log()}")
        raw = self.redis.hget(f"{self.prefix}nodes", worker.name)
        return (
            bool(raw)
            and json.loads(raw)["heartbeat"] > time.time() - 5
            # this process's "ready" (a restarted node's log holds the earlier one's too):
            # written once it has restored its sessions and removed what it left
            and (f"node {worker.name}: ready" in worker.own_log())
        )

    def record(self, session_id: str) -> dict[str, str]:
        raw = self.redis.hgetall(f"{self.prefix}session:{session_id}")
        return {k.decode(): v.decode() for k, v in raw.items()}

    def keys(self, pattern: str = "*") -> list[str]:
        return sorted(k.decode() for k in self.redis.scan_iter(f"{self.prefix}{pattern}"))

    def stop(self) -> None:
        self.api.stop()
        for worker in self.workers.values():
            worker.stop()
        client = self.redis
        with contextlib.suppress(redis.RedisError):  # a test's own Redis may be gone
            for key in client.scan_iter(f"{self.prefix}*"):
                client.delete(key)
        if self.settings.get("sandbox_backend") == "docker":
            remove_containers_under(str(self.root))


@dataclass(frozen=True)
class SseEvent:
    id: str
    type: str
    data: dict[str, Any]


def read_events(
    base_url: str,
    session_id: str,
    until: Callable[[SseEvent], bool] | None = None,
    last_event_id: str | None = None,
    timeout: float = 30.0,
    key: str = ALICE_KEY,
) -> list[SseEvent]:
    """Follow a session's SSE stream until ``until`` holds, the stream ends or time runs out."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    headers.update(auth(key))
    events: list[SseEvent] = []
    deadline = time.monotonic() + timeout
    with httpx.stream(
        "GET",
        f"{base_url}/kontext/preview/{session_id}/events",
        headers=headers,
        timeout=httpx.Timeout(timeout, read=timeout),
        trust_env=False,
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")

        def lines() -> Iterator[str]:  # keep-alive comments too: the deadline holds
            with contextlib.suppress(httpx.ReadTimeout):
                for line in response.iter_lines():
                    yield line
                    if time.monotonic() > deadline:
                        return

        for event in parse_sse(lines()):
            events.append(event)
            if (until and until(event)) or time.monotonic() > deadline:
                break
    return events


def parse_sse(lines: Iterator[str]) -> Iterator[SseEvent]:
    fields: dict[str, str] = {}
    for line in lines:
        if not line:
            if "data" in fields:
                yield SseEvent(
                    fields.get("id", ""), fields.get("event", "message"), json.loads(fields["data"])
                )
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
