"""Command line.

``serve`` runs the API (embedded: with the sessions in this process; distributed:
in front of workers), ``worker`` a Celery worker node that hosts sessions,
``beat`` the periodic cull, ``doctor`` says what this machine lacks and ``openapi``
prints the API's schema.
"""

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import click
import uvicorn

from kontext_preview.app import HostRouter, create_app
from kontext_preview.auth import KEY_FILE_NAME, LOCAL_USER, ApiKeys
from kontext_preview.config import Settings
from kontext_preview.logs import configure_logging

MIN_NODE = (20, 19)


@click.group()
def main() -> None:
    """kontext-preview: live previews of AI-written Vite apps."""


@main.command()
@click.option("--host", help="Interface to listen on (KONTEXT_HOST, default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (KONTEXT_PORT, default 8000; 0 = any).")
@click.option("--log-level", default="info", show_default=True)
@click.option(
    "--access-log/--no-access-log",
    default=False,
    show_default=True,
    help="A line per HTTP request, previews' module requests included (dozens a page load).",
)
def serve(host: str | None, port: int | None, log_level: str, access_log: bool) -> None:
    """Run the API and the preview proxy in this process (embedded mode)."""
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    configure_logging(log_level, settings.log_format)
    problems = check_environment(settings)
    if settings.mode == "distributed":
        problems += check_redis(settings)
    else:
        problems += check_backend(settings)  # distributed: the workers run the sandboxes
    try:
        keys = ApiKeys.from_settings(settings)
    except (ValueError, OSError) as exc:
        problems.append(f"API keys: {exc}")
    if problems:
        for problem in problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(2)
    sock = bind_socket(settings.host, settings.port)
    settings.port = sock.getsockname()[1]
    click.echo(
        f"kontext-preview API listening on http://{settings.host}:{settings.port}/ "
        f"(docs at /docs, previews at {settings.preview_url('<id>')})",
        nl=True,
    )
    page = f"http://{settings.host}:{settings.port}/"
    if keys.generated:
        click.echo(
            f"API key (user {LOCAL_USER}, kept in {settings.data_dir / KEY_FILE_NAME}): "
            f"{keys.generated}\n  send it as `Authorization: Bearer <key>`; configure "
            "KONTEXT_API_KEYS for more users"
        )
        click.echo(f"Playground: {page}#key={keys.generated}")
    else:
        click.echo(f"API keys: {len(keys.users)} configured")
        click.echo(f"Playground: {page} (with one of the API keys)")
    sys.stdout.flush()
    config = uvicorn.Config(
        create_app(settings),
        log_config=None,  # our handler (configure_logging): the session on every line
        log_level=log_level,
        access_log=access_log,
        ws_per_message_deflate=False,
        lifespan="on",
    )
    uvicorn.Server(config).run(sockets=[sock])


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            click.echo(
                f"error: port {port} on {host} is already in use; choose another with "
                "--port or KONTEXT_PORT (or stop what is using it)",
                err=True,
            )
        else:
            click.echo(f"error: cannot listen on {host}:{port}: {exc.strerror}", err=True)
        sys.exit(2)
    sock.listen(2048)
    return sock


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--concurrency", type=int, help="Task threads (KONTEXT_WORKER_CONCURRENCY).")
@click.option("--log-level", default="info", show_default=True)
@click.pass_context
def worker(ctx: click.Context, concurrency: int | None, log_level: str) -> None:
    """Run a worker node (distributed mode): it hosts sessions and their Vite servers.

    Consumes its own queue (kontext.node.<KONTEXT_NODE_NAME>) and kontext.control.
    Extra arguments go to `celery worker`."""
    settings = Settings()
    configure_logging(log_level, settings.log_format)
    problems = check_environment(settings) + check_redis(settings) + check_backend(settings)
    if problems:
        for problem in problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(2)
    from kontext_preview.distributed.protocol import CONTROL_QUEUE, node_queue
    from workers.app import app

    app.worker_main(
        [
            "worker",
            "--pool=threads",
            f"--concurrency={concurrency or settings.worker_concurrency}",
            f"--queues={node_queue(settings.node_name)},{CONTROL_QUEUE}",
            f"--hostname=kontext@{settings.node_name}",
            f"--loglevel={log_level}",
            "--without-gossip",
            "--without-mingle",
            *ctx.args,
        ]
    )


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--log-level", default="info", show_default=True)
@click.pass_context
def beat(ctx: click.Context, log_level: str) -> None:
    """Run Celery beat: the periodic cull of expired sessions (run exactly one)."""
    settings = Settings()
    problems = check_redis(settings)
    if problems:
        for problem in problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(2)
    from workers.app import app

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app.start(
        [
            "beat",
            f"--loglevel={log_level}",
            f"--schedule={settings.data_dir / 'celerybeat-schedule'}",
            *ctx.args,
        ]
    )


@main.command()
def openapi() -> None:
    """Print the API's OpenAPI schema (JSON): what the TypeScript client's types are made
    from (`make client-types`). Starts nothing; a throwaway data folder takes the keys."""
    with tempfile.TemporaryDirectory(prefix="kontext-openapi-") as data_dir:
        app = create_app(Settings(data_dir=Path(data_dir)))
        assert isinstance(app, HostRouter)
        click.echo(json.dumps(app.api.openapi(), indent=2, sort_keys=True))


@main.command()
def doctor() -> None:
    """Check Node, npm, the Vite template, Redis and Docker; say how to fix what is missing."""
    settings = Settings()
    distributed, docker = settings.mode == "distributed", settings.sandbox_backend == "docker"
    checks = [
        ("Node.js, npm and the Vite template", check_environment(settings), True),
        (f"Redis at {settings.redis_url} (distributed mode)", check_redis(settings), distributed),
        (
            f"Docker engine and the image {settings.docker_image} (docker sandbox backend)",
            check_docker(settings),
            docker,
        ),
    ]
    failed = False
    for title, problems, needed in checks:
        if not problems:
            click.echo(f"ok      {title}")
            continue
        failed |= needed
        click.echo(f"{'MISSING' if needed else 'absent '} {title}")
        for problem in problems:
            click.echo(f"          {problem}")
    click.echo(f"mode: {settings.mode}, sandbox backend: {settings.sandbox_backend}")
    sys.exit(1 if failed else 0)


def check_redis(settings: Settings) -> list[str]:
    import redis

    try:
        client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        return [
            f"cannot reach Redis at {settings.redis_url}: {exc}; start one (e.g. "
            "`redis-server --daemonize yes`, or `docker compose up redis`) or set KONTEXT_REDIS_URL"
        ]
    return []


def check_docker(settings: Settings) -> list[str]:
    """Can this machine run Docker sandboxes: an engine that answers, and the image?"""
    import docker
    from docker.errors import DockerException, ImageNotFound

    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.from_env(timeout=5)
        client.ping()
    except DockerException as exc:
        reason = str(exc)
        if "Permission denied" in reason:
            return [
                f"this user may not use the Docker engine at {where}: add it to the `docker` group"
            ]
        return [
            f"no Docker engine answers at {where} ({reason[:200]}); install Debian's docker.io "
            "and start `dockerd` (`make docker` does both), or set DOCKER_HOST"
        ]
    try:
        client.images.get(settings.docker_image)
    except ImageNotFound:
        return [
            f"the sandbox image {settings.docker_image} is not on this engine; build it with "
            "`make sandbox-image` (or set KONTEXT_DOCKER_IMAGE)"
        ]
    except DockerException as exc:
        return [f"the Docker engine at {where} failed to list images: {exc}"]
    finally:
        client.close()
    return []


def check_backend(settings: Settings) -> list[str]:
    """What the configured sandbox backend needs beyond Node and the template."""
    return check_docker(settings) if settings.sandbox_backend == "docker" else []


def check_environment(settings: Settings) -> list[str]:
    """What stops this machine from running previews, in words a person can act on."""
    problems = []
    node = shutil.which(settings.node_binary)
    if node is None:
        problems.append(
            f"Node.js ({settings.node_binary}) is not on PATH; install Node "
            f"{MIN_NODE[0]}.{MIN_NODE[1]} or newer"
        )
    else:
        version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
        parts = tuple(int(p) for p in version.strip().lstrip("v").split(".")[:2])
        if parts < MIN_NODE:
            problems.append(
                f"Node.js {version.strip()} is too old for Vite 8; "
                f"{MIN_NODE[0]}.{MIN_NODE[1]} or newer is needed"
            )
    if shutil.which(settings.npm_binary) is None:
        problems.append(f"npm ({settings.npm_binary}) is not on PATH")
    if not (settings.template_dir / "node_modules" / "vite").is_dir():
        problems.append(
            f"the Vite template in {settings.template_dir} is not installed; run `make template`"
        )
    tools = settings.deployer_tools_dir / "node_modules" / "motoko"
    if settings.deployer == "local" and not tools.is_dir():
        problems.append(
            f"the local deployer's Motoko compiler ({tools}) is not installed; run `make template` "
            "(or set KONTEXT_DEPLOYER=none or command)"
        )
    if settings.deployer == "command" and not settings.deploy_command:
        problems.append("KONTEXT_DEPLOYER=command needs KONTEXT_DEPLOY_COMMAND")
    return problems
