"""Prometheus metrics (prometheus-client), from the events this process publishes.

Every update, start, hibernation, expiry, deployment and preview error is an event
(``kontext_preview.events``); :class:`Metrics` observes the event log of the process that
runs the sessions (the embedded API, or each worker node) and counts them. Live and
hibernated sessions per node are counted when scraped. The embedded API serves them at
``/metrics``; a worker node at ``KONTEXT_METRICS_PORT`` (if set), and the distributed API
serves its own (API errors) with the sessions of every node from the registry.
"""

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from kontext_preview import events as ev

# Seconds, from a millisecond CSS injection to a dev server's cold start.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
PHASES = {
    "analyzeMs": "analyze",
    "writeMs": "write",
    "notifyMs": "notify",
    "serverMs": "server",
    "browserAppliedMs": "browser",
}


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.update_seconds = Histogram(
            "kontext_update_seconds",
            "Update latency by phase (analyze, write, notify, server: receipt → answer, "
            "browser: receipt → the page applied it) and strategy",
            ["phase", "strategy"],
            buckets=BUCKETS,
            registry=r,
        )
        self.updates = Counter(
            "kontext_updates", "Updates applied, by strategy", ["strategy"], registry=r
        )
        self.start_seconds = Histogram(
            "kontext_session_start_seconds",
            "Create (or wake) → the preview serves, by how: create, warm-pool, resume, "
            "restart, adopt",
            ["start"],
            buckets=BUCKETS,
            registry=r,
        )
        self.hibernations = Counter("kontext_hibernations", "Sessions hibernated", registry=r)
        self.ended = Counter(
            "kontext_sessions_ended", "Sessions ended, by reason", ["reason"], registry=r
        )
        self.deployments = Counter(
            "kontext_deployments", "Full deployments finished, by outcome", ["outcome"], registry=r
        )
        self.errors = Counter(
            "kontext_errors",
            "Errors: API answers by code, and preview errors (preview-compile, "
            "preview-runtime), session failures (session-failed)",
            ["code"],
            registry=r,
        )
        self.sessions = Gauge(
            "kontext_sessions", "Sessions by node and status", ["node", "status"], registry=r
        )

    def observe(self, session_id: str, type_: str, data: dict[str, Any]) -> None:
        """An event was published (an EventLog observer)."""
        if type_ == ev.UPDATE_APPLIED:
            self._applied(data)
        elif type_ == ev.SESSION_READY and "startMs" in data:
            self.start_seconds.labels(data.get("start", "create")).observe(data["startMs"] / 1000)
        elif type_ == ev.SESSION_HIBERNATED:
            self.hibernations.inc()
        elif type_ in ev.TERMINAL:
            self.ended.labels(type_.removeprefix("session.")).inc()
        elif type_ == ev.SESSION_FAILED:
            self.errors.labels("session-failed").inc()
        elif type_ == ev.PREVIEW_ERROR:
            self.errors.labels(f"preview-{data.get('kind', 'error')}").inc()
        elif type_ in (ev.DEPLOY_SUCCEEDED, ev.DEPLOY_FAILED, ev.DEPLOY_SUPERSEDED):
            self.deployments.labels(type_.removeprefix("deploy.")).inc()

    def _applied(self, data: dict[str, Any]) -> None:
        strategy = str(data.get("strategy", "none"))
        self.updates.labels(strategy).inc()
        timings = {**data.get("timings", {}), "browserAppliedMs": data.get("browserAppliedMs")}
        for key, phase in PHASES.items():
            value = timings.get(key)
            if isinstance(value, int | float):
                self.update_seconds.labels(phase, strategy).observe(value / 1000)

    def api_error(self, code: str) -> None:
        self.errors.labels(code).inc()

    def render(self, counts: dict[str, dict[str, int]]) -> bytes:
        """The text exposition, with ``counts`` (node → status → sessions) as the gauge."""
        self.sessions.clear()
        for node, statuses in counts.items():
            for status, count in statuses.items():
                self.sessions.labels(node, status).set(count)
        return generate_latest(self.registry)
