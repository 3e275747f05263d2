"""Load, short (the full run is `make bench`: benchmarks/load.py): sessions updated at once,
each accepted update applied exactly once, in order, and served last-write-wins."""

from pathlib import Path

import pytest

from benchmarks.load import FILE, Sent, check, content, run
from tests.conftest import create_session
from tests.distributed.cluster import Cluster
from tests.project import project_files
from tests.server import ApiServer

pytestmark = [pytest.mark.adversarial, pytest.mark.vite]
LIMITS = {"max_running_sessions": 8, "max_sessions_per_user": 8}


def assert_lossless(report: dict[str, object]) -> None:
    print(report)
    assert report["errors"] == 0, report["error_samples"]
    assert report["accepted"] == report["sent"]
    assert report["lost"] == 0 and report["out_of_order"] == 0


def test_embedded_under_load(tmp_path: Path) -> None:
    server = ApiServer.start(tmp_path, **LIMITS)
    try:
        assert_lossless(run(server, sessions=5, rate=10, seconds=4))
    finally:
        server.stop()


@pytest.mark.distributed
def test_distributed_under_load(tmp_path: Path) -> None:
    cluster = Cluster.start(tmp_path / "cluster", ("l1",), **LIMITS)
    try:
        assert_lossless(run(cluster.api, sessions=5, rate=10, seconds=4))
    finally:
        cluster.stop()


def test_the_check_sees_a_loss_and_a_stale_preview(server: ApiServer) -> None:
    """What the load checks count is real: an update said accepted that the session never
    applied is lost, and so is a last write the preview does not serve."""
    with server.client() as api:
        sid = create_session(api, project_files())["sessionId"]
        real = api.post(
            f"/kontext/preview/{sid}/update",
            json={"files": [{"name": FILE, "content": content(0, 0)}]},
        ).json()
        assert check(server, sid, 0, Sent(accepted={real["seq"]: 0}, last_k=0)) == {
            "lost": 0,
            "out_of_order": 0,
        }
        claimed = Sent(accepted={real["seq"]: 0, real["seq"] + 1: 1}, last_k=1)
        assert check(server, sid, 0, claimed, wait=2)["lost"] == 2  # never applied, not served
        api.delete(f"/kontext/preview/{sid}")
