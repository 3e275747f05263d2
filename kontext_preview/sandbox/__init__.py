"""Sandboxes: where a session's dev server runs. Backends are chosen by name in Settings."""

from kontext_preview.config import Settings
from kontext_preview.sandbox.base import SandboxBackend


def create_backend(settings: Settings) -> SandboxBackend:
    if settings.sandbox_backend == "local":
        from kontext_preview.sandbox.local import LocalBackend

        return LocalBackend(settings)
    if settings.sandbox_backend == "docker":
        from kontext_preview.sandbox.docker import DockerBackend

        return DockerBackend(settings)
    raise ValueError(f"unknown sandbox backend {settings.sandbox_backend!r}")
