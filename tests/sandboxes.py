"""What the tests ask of either sandbox backend: is a session's sandbox still there?"""

from typing import Any

import docker
import pytest

from kontext_preview.sandbox.containers import SESSION
from tests.server import agent_pids

BACKENDS = ("local", "docker")
# Both backends as test parameters, the Docker one marked `docker`.
BACKEND_PARAMS = [
    pytest.param(b, marks=[pytest.mark.docker] if b == "docker" else []) for b in BACKENDS
]


def docker_client() -> Any:
    """The engine `make test` started; a clear failure (not a skip) if there is none."""
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except docker.errors.DockerException as exc:
        raise RuntimeError(
            f"the Docker suite needs a Docker engine ({exc}); `make test` starts one"
        ) from exc
    return client


def containers_of(session_id: str) -> list[Any]:
    """The session's containers. The SDK inspects each one it lists: one removed between
    the two (a build's container at its end) makes it raise NotFound; list again then."""
    for _ in range(10):
        try:
            found: list[Any] = docker_client().containers.list(
                all=True, filters={"label": f"{SESSION}={session_id}"}
            )
            return found
        except docker.errors.NotFound:
            continue
    raise RuntimeError(f"the containers of {session_id} kept changing while listed")


def sandbox_alive(backend: str, session_id: str) -> bool:
    if backend == "docker":
        return bool(containers_of(session_id))
    return bool(agent_pids(session_id))


def leftover_containers(base: str) -> list[str]:
    """Containers with a mount under ``base`` (the tests' temporary folders); none when no
    engine runs (a run of the suite without the Docker tests)."""
    try:
        client = docker_client()
    except RuntimeError:
        return []
    found = []
    for container in client.containers.list(all=True, filters={"label": SESSION}):
        if any(m.get("Source", "").startswith(base) for m in container.attrs["Mounts"]):
            found.append(f"container {container.name} ({container.status})")
    return found


def remove_containers_under(base: str) -> None:
    """Containers a test's stopped workers left running on purpose (to be taken over)."""
    for container in docker_client().containers.list(all=True, filters={"label": SESSION}):
        if any(m.get("Source", "").startswith(base) for m in container.attrs["Mounts"]):
            container.remove(force=True)
