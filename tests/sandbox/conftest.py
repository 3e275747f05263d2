"""The sandbox suites run against each backend in turn (``backend``, tests/conftest.py): a
module's ``server`` is that backend's, unless the module makes its own."""

from collections.abc import Iterator

import httpx
import pytest

from tests.server import ApiServer


@pytest.fixture(scope="module")
def server(backend_server: ApiServer) -> ApiServer:
    return backend_server


@pytest.fixture(scope="module")
def api(server: ApiServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client
