"""The node's ports for dev servers: a range from Settings, each port used by one sandbox."""

import random
import socket
from collections.abc import Iterator

from kontext_preview.config import Settings
from kontext_preview.errors import SandboxError


class PortPool:
    def __init__(self, settings: Settings):
        self.low, self.high = settings.sandbox_port_min, settings.sandbox_port_max
        self.host = settings.sandbox_bind_host
        self.in_use: set[int] = set()

    def candidates(self) -> Iterator[int]:
        """Ports of the range nobody here holds and nothing listens on, in random order."""
        ports = list(range(self.low, self.high + 1))
        random.shuffle(ports)
        for port in ports:
            if port not in self.in_use and _port_is_free(port):
                yield port

    def free_port(self) -> int:
        for port in self.candidates():
            return port
        raise self.exhausted()

    def exhausted(self) -> SandboxError:
        return SandboxError(
            f"no free port for Vite between {self.low} and {self.high}: all are taken "
            "(widen KONTEXT_SANDBOX_PORT_MIN / KONTEXT_SANDBOX_PORT_MAX or end some sessions)"
        )


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
