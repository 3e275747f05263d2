"""The service's log lines carry the session they are about, as text or as JSON."""

import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import create_session, push
from tests.project import project_files
from tests.server import ApiServer, wait_for

pytestmark = pytest.mark.vite


def test_json_lines_carry_the_session(tmp_path: Path) -> None:
    server = ApiServer.start(tmp_path, log_format="json")
    try:
        with server.client() as api:
            sid = create_session(api, project_files())["sessionId"]
            push(api, sid, "src/frontend/src/Header.tsx", "export default () => <h1>x</h1>;\n")
            api.get("/kontext/preview/nosuchsession")  # an error, about no session of ours
            api.delete(f"/kontext/preview/{sid}")
        assert wait_for(lambda: any("ended (session.deleted)" in line for line in server.output))
    finally:
        server.stop()
    records = [json.loads(line) for line in server.output if line.startswith("{")]
    assert records and all(
        {"time", "level", "logger", "session", "message"} <= r.keys() for r in records
    )
    about = [r for r in records if sid in r["message"]]
    assert about and all(r["session"] == sid for r in about), about


def test_text_lines_carry_the_session(server: ApiServer, api: httpx.Client) -> None:
    sid = create_session(api, project_files())["sessionId"]
    api.delete(f"/kontext/preview/{sid}")
    assert wait_for(lambda: any(f"session {sid} ended" in line for line in server.output))
    lines = [line for line in server.output if f"session {sid} " in line]
    assert lines and all(f"[{sid}]" in line for line in lines), lines
