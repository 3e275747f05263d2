"""The embedded cull: idle sessions expire, their event stream says so and ends."""

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import create_session, session_dir
from tests.distributed.cluster import read_events
from tests.server import ApiServer, agent_pids, wait_for

pytestmark = [pytest.mark.vite]


def test_idle_sessions_expire(tmp_path: Path, files: list[dict[str, Any]]) -> None:
    server = ApiServer.start(tmp_path, session_ttl_seconds=2, reap_interval_seconds=0.5)
    try:
        with server.client() as api:
            sid = create_session(api, files)["sessionId"]
            assert agent_pids(sid)
            events = read_events(server.base_url, sid, timeout=30)
            assert events[-1].type == "session.expired", [e.type for e in events]
            assert api.get(f"/kontext/preview/{sid}").status_code == 404
            assert server.preview_get(sid).status_code == 404
            assert wait_for(lambda: not agent_pids(sid))
            assert not session_dir(server, sid).exists()
    finally:
        server.stop()
