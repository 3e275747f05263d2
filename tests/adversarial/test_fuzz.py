"""The API fuzzed with schemathesis from its own OpenAPI schema, with a valid API key and
without: no 5xx, every answer (errors included) in its documented shape and status, and
invalid input refused. Stateful runs follow the schema's links (create → get, update,
delete). The reports go to test-results/."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server import ALICE_KEY, ApiServer

pytestmark = [pytest.mark.vite, pytest.mark.fuzz]
REPORTS = Path(__file__).parent.parent.parent / "test-results"
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    )
)


def fuzz(server: ApiServer, name: str, workdir: Path, *headers: str) -> int:
    """Run schemathesis; return how many requests it generated (it must find nothing)."""
    REPORTS.mkdir(exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{server.base_url}/openapi.json",
        f"--checks={CHECKS}",
        "--max-examples=40",
        "--generation-deterministic",
        "--report=junit",
        f"--report-junit-path={REPORTS / f'fuzz-{name}.xml'}",
    ]
    for header in headers:
        command += ["-H", header]
    # In a folder of the test's own: schemathesis keeps a cache where it runs.
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=workdir)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    counted = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
    assert counted and counted.group(1) == counted.group(2), run.stdout[-2000:]
    return int(counted.group(1))


def test_the_api_holds_against_generated_requests(tmp_path: Path) -> None:
    # Few sessions per user: valid creates among the fuzzed ones start real dev servers.
    server = ApiServer.start(tmp_path, max_sessions_per_user=3, max_running_sessions=3)
    try:
        with_key = fuzz(server, "with-key", tmp_path, f"Authorization: Bearer {ALICE_KEY}")
        without = fuzz(server, "without-key", tmp_path)
        assert with_key > 300 and without > 300
        print(f"fuzzed requests: {with_key} with a key, {without} without")
        assert server.process.poll() is None
    finally:
        server.stop()
