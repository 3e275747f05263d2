"""/healthz, /readyz and /metrics of a real server: an update shows in the histograms."""

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import create_session, push
from tests.distributed.cluster import read_events
from tests.project import project_files
from tests.server import ApiServer

pytestmark = pytest.mark.vite
HEADER = "src/frontend/src/Header.tsx"


def samples(server: ApiServer) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics, by name and labels (no API key needed)."""
    text = httpx.get(f"{server.base_url}/metrics", trust_env=False)
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text.text)
        for s in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_probes_answer_without_a_key(server: ApiServer) -> None:
    assert httpx.get(f"{server.base_url}/healthz", trust_env=False).json() == {"ok": True}
    ready = httpx.get(f"{server.base_url}/readyz", trust_env=False)
    assert ready.status_code == 200 and ready.json() == {"ready": True, "problems": []}


def test_an_update_shows_in_the_metrics(server: ApiServer, api: httpx.Client) -> None:
    before = samples(server)
    sid = create_session(api, project_files())["sessionId"]
    update = push(api, sid, HEADER, 'export default () => <h1 id="title">metrics</h1>;\n')
    strategy = update["strategy"]
    read_events(server.base_url, sid, until=lambda e: e.data.get("updateId") == update["updateId"])
    assert api.get("/kontext/preview/nosuchsession").status_code == 404
    after = samples(server)

    for phase in ("analyze", "write", "notify", "server"):
        name = "kontext_update_seconds_count"
        grew = value(after, name, phase=phase, strategy=strategy) - value(
            before, name, phase=phase, strategy=strategy
        )
        assert grew == 1, (phase, strategy)
    assert (
        value(after, "kontext_updates_total", strategy=strategy)
        - value(before, "kontext_updates_total", strategy=strategy)
        == 1
    )
    started = "kontext_session_start_seconds_count"
    assert value(after, started, start="create") - value(before, started, start="create") == 1
    errors = "kontext_errors_total"
    assert value(after, errors, code="session_not_found") > value(
        before, errors, code="session_not_found"
    )
    live = [
        v
        for (n, labels), v in after.items()
        if n == "kontext_sessions" and ("status", "active") in labels
    ]
    assert live and sum(live) >= 1
    api.delete(f"/kontext/preview/{sid}")
    ended = samples(server)
    assert value(ended, "kontext_sessions_ended_total", reason="deleted") > value(
        after, "kontext_sessions_ended_total", reason="deleted"
    )
