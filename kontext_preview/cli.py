"""Command line: ``kontext-preview serve`` runs the API with embedded defaults."""

import errno
import logging
import shutil
import socket
import subprocess
import sys

import click
import uvicorn

from kontext_preview.app import create_app
from kontext_preview.config import Settings

MIN_NODE = (20, 19)


@click.group()
def main() -> None:
    """kontext-preview: live previews of AI-written Vite apps."""


@main.command()
@click.option("--host", help="Interface to listen on (KONTEXT_HOST, default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (KONTEXT_PORT, default 8000; 0 = any).")
@click.option("--log-level", default="info", show_default=True)
def serve(host: str | None, port: int | None, log_level: str) -> None:
    """Run the API and the preview proxy in this process (embedded mode)."""
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    problems = check_environment(settings)
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
    sys.stdout.flush()
    config = uvicorn.Config(
        create_app(settings), log_level=log_level, ws_per_message_deflate=False, lifespan="on"
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
    return problems
