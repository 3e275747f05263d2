from collections.abc import Iterator

import pytest

from tests.distributed.cluster import Cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The API and two worker nodes, n1 and n2, over the real Redis."""
    running = Cluster.start(tmp_path_factory.mktemp("cluster"), ("n1", "n2"))
    yield running
    running.stop()
