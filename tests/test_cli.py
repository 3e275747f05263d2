"""`kontext-preview doctor` says what is missing and how to fix it."""

import os
import subprocess
import sys

import pytest


def doctor(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kontext_preview", "doctor"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_doctor_passes_where_everything_distributed_mode_needs_is_here() -> None:
    result = doctor(KONTEXT_MODE="distributed", KONTEXT_REDIS_URL="redis://127.0.0.1:6379/13")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok      Node.js, npm and the Vite template" in result.stdout
    assert "ok      Redis at redis://127.0.0.1:6379/13" in result.stdout
    assert "Docker" in result.stdout


def test_doctor_names_a_missing_redis_and_the_fix() -> None:
    unreachable = "redis://127.0.0.1:1/0"
    embedded = doctor(KONTEXT_MODE="embedded", KONTEXT_REDIS_URL=unreachable)
    assert embedded.returncode == 0, "the embedded mode does not need Redis"
    assert "absent  Redis" in embedded.stdout
    distributed = doctor(KONTEXT_MODE="distributed", KONTEXT_REDIS_URL=unreachable)
    assert distributed.returncode == 1
    assert "MISSING Redis" in distributed.stdout
    assert "KONTEXT_REDIS_URL" in distributed.stdout


def test_the_api_refuses_to_start_distributed_without_redis() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kontext_preview", "serve", "--port", "0"],
        env={
            **os.environ,
            "KONTEXT_MODE": "distributed",
            "KONTEXT_REDIS_URL": "redis://127.0.0.1:1/0",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot reach Redis at redis://127.0.0.1:1/0")
    assert "KONTEXT_REDIS_URL" in result.stderr


@pytest.mark.docker
def test_doctor_checks_the_docker_engine_and_the_sandbox_image() -> None:
    ready = doctor(KONTEXT_SANDBOX_BACKEND="docker")
    assert ready.returncode == 0, ready.stdout
    assert "ok      Docker engine and the image kontext-sandbox:latest" in ready.stdout

    no_engine = doctor(KONTEXT_SANDBOX_BACKEND="docker", DOCKER_HOST="unix:///nonexistent.sock")
    assert no_engine.returncode == 1
    assert "MISSING Docker engine" in no_engine.stdout and "make docker" in no_engine.stdout
    assert doctor(DOCKER_HOST="unix:///nonexistent.sock").returncode == 0  # local: not needed

    no_image = doctor(KONTEXT_SANDBOX_BACKEND="docker", KONTEXT_DOCKER_IMAGE="kontext-none:x")
    assert no_image.returncode == 1
    assert "kontext-none:x is not on this engine" in no_image.stdout
    assert "make sandbox-image" in no_image.stdout


@pytest.mark.docker
def test_the_api_refuses_to_start_the_docker_backend_without_its_image() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kontext_preview", "serve", "--port", "0"],
        env={
            **os.environ,
            "KONTEXT_SANDBOX_BACKEND": "docker",
            "KONTEXT_DOCKER_IMAGE": "kontext-none:x",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "kontext-none:x is not on this engine" in result.stderr
