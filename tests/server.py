"""A real kontext-preview server in a subprocess, as a user runs it, and helpers around it."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

READY = re.compile(r"listening on http://([\d.]+):(\d+)/")
# The API keys every test server accepts (unless a test passes api_keys itself).
ALICE_KEY = "kp-test-alice-0123456789abcdef"
BOB_KEY = "kp-test-bob-0123456789abcdef"
TEST_KEYS = {ALICE_KEY: "alice", BOB_KEY: "bob"}


def auth(key: str = ALICE_KEY) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@dataclass
class ApiServer:
    process: subprocess.Popen[str]
    port: int
    data_dir: Path
    output: list[str]

    @classmethod
    def start(
        cls, data_dir: Path, port: int = 0, env: dict[str, str] | None = None, **settings: Any
    ) -> "ApiServer":
        """Start a server; ``api_keys`` defaults to TEST_KEYS (None: the generated local key),
        and no warm pool unless a test asks for one (``pool_size``); ``env``: more of the
        process's environment (e.g. npm's registry)."""
        settings.setdefault("api_keys", TEST_KEYS)
        settings.setdefault("pool_size", 0)
        env = {**os.environ, **(env or {}), "KONTEXT_DATA_DIR": str(data_dir)}
        env.update(
            {
                f"KONTEXT_{k.upper()}": json.dumps(v) if isinstance(v, dict | list) else str(v)
                for k, v in settings.items()
                if v is not None
            }
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "kontext_preview", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        assert process.stdout
        output: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError("server exited:\n" + "".join(output))
            output.append(line)
            if match := READY.search(line):
                server = cls(process, int(match.group(2)), data_dir, output)
                server._drain()
                server._wait_until_serving()
                return server
        process.kill()
        raise RuntimeError("server did not start:\n" + "".join(output))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, key: str = ALICE_KEY) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=180, trust_env=False, headers=auth(key))

    def preview_host(self, session_id: str) -> str:
        return f"preview-{session_id}.localhost:{self.port}"

    def preview_get(self, session_id: str, path: str = "/") -> httpx.Response:
        """GET through the proxy (Python does not resolve *.localhost: send the Host header)."""
        return httpx.get(
            self.base_url + path, headers={"host": self.preview_host(session_id)}, trust_env=False
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _drain(self) -> None:
        import threading

        def pump() -> None:
            assert self.process.stdout
            for line in self.process.stdout:
                self.output.append(line)

        threading.Thread(target=pump, daemon=True).start()

    def _wait_until_serving(self) -> None:
        for _ in range(100):
            try:
                httpx.get(self.base_url + "/", trust_env=False)
                return
            except httpx.TransportError:
                time.sleep(0.05)


def inotify_watches(pid: int) -> int:
    """How many inotify watches the process holds (lines ``inotify wd:`` in its fdinfo)."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd) == "anon_inode:inotify":
                text = Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text()
                count += 1 + text.count("inotify wd:")
        except OSError:
            continue
    return count


def agent_pids(session_id: str) -> list[int]:
    """Pids of live processes whose command line names this session (its Node agent)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if session_id.encode() in cmdline and b"agent.mjs" in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def ready_slots(log: str) -> list[str]:
    """The warm pool's slots a server said are ready (in its output), in order."""
    return re.findall(r"warm pool: \S+ slot ([a-z0-9]+) ready", log)


def wait_for(predicate: Any, timeout: float = 15.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
