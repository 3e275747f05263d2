"""The agent protocol has one source (kontext_preview/sandbox/protocol.py): the agent's schema
and validators are made from it and are current, and both sides give the same verdict on
the same messages, valid and not."""

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from kontext_preview.config import Settings
from kontext_preview.sandbox import protocol
from kontext_preview.sandbox.agent import agent_config
from kontext_preview.sandbox.base import SandboxSpec

AGENT = Path(__file__).parents[2] / "sandbox-images" / "agent"

# (root of the protocol, message, valid?)
SAMPLES: list[tuple[str, Any, bool]] = [
    ("AgentEvent", {"type": "ready", "port": 5173, "viteVersion": "7.1.0"}, True),
    ("AgentEvent", {"type": "ready", "socket": "/run/vite.sock", "viteVersion": "8.0.0"}, True),
    ("AgentEvent", {"type": "ready", "port": 5173}, False),
    ("AgentEvent", {"type": "log", "level": "warn", "message": "x"}, True),
    ("AgentEvent", {"type": "log", "level": "debug", "message": "x"}, False),
    ("AgentEvent", {"type": "error", "message": "port 1 is already in use"}, True),
    ("AgentEvent", {"type": "ack", "seq": 3, "kind": "css", "at": 1.5e12, "page": "p"}, True),
    ("AgentEvent", {"type": "ack", "seq": -2, "kind": "reload", "at": 1, "page": "p"}, True),
    ("AgentEvent", {"type": "ack", "seq": 3, "kind": "shown", "at": 1.0, "page": "p"}, False),
    ("AgentEvent", {"type": "ack", "seq": 1.5, "kind": "css", "at": 1.0, "page": "p"}, False),
    ("AgentEvent", {"type": "ack", "seq": 3, "kind": "css", "at": 1.0}, False),
    ("AgentEvent", {"type": "reloading", "seq": 4}, True),
    (
        "AgentEvent",
        {"type": "preview-error", "kind": "compile", "message": "m", "file": "a.tsx", "line": 3},
        True,
    ),
    ("AgentEvent", {"type": "preview-error", "kind": "compile", "message": "m", "x": 1}, False),
    ("AgentEvent", {"type": "preview-error", "kind": "syntax", "message": "m"}, False),
    ("AgentEvent", {"type": "console", "level": "warn", "message": "m", "count": 2}, True),
    ("AgentEvent", {"type": "console", "level": "info", "message": "m", "count": 2}, False),
    ("AgentEvent", {"type": "built", "outDir": "/o", "viteVersion": "7.1.0"}, True),
    ("AgentEvent", {"type": "shown"}, False),
    ("AgentEvent", "ready", False),
    ("Hello", {"token": "t"}, True),
    ("Hello", {"token": 1}, False),
    (
        "ControlRequest",
        {"id": 1, "action": "notify", "changes": [{"path": "a", "event": "change"}]},
        True,
    ),
    (
        "ControlRequest",
        {"id": 1, "action": "notify", "changes": [{"path": "a", "event": "rename"}]},
        False,
    ),
    ("ControlRequest", {"id": 2, "action": "inject", "paths": ["a.css"]}, True),
    ("ControlRequest", {"id": 2, "action": "inject", "paths": "a.css"}, False),
    ("ControlRequest", {"id": 3, "action": "announce-restart", "seq": -1}, True),
    ("ControlRequest", {"id": 4, "action": "health"}, True),
    ("ControlRequest", {"action": "health"}, False),
    ("ControlRequest", {"id": 5, "action": "exec", "command": "rm -rf /"}, False),
    ("AgentConfig", {"mode": "build", "root": "/r", "templateDir": "/t", "outDir": "/o"}, True),
    ("AgentConfig", {"mode": "build", "root": "/r", "templateDir": "/t"}, False),
    ("AgentConfig", {"mode": "serve", "root": "/r", "templateDir": "/t"}, False),
]

ROOTS: dict[str, Any] = {
    "AgentEvent": protocol.AgentEvent,
    "Hello": protocol.Hello,
    "ControlRequest": protocol.ControlRequest,
    "AgentConfig": protocol.AgentConfig,
}


def python_verdict(root: str, message: Any) -> bool:
    try:
        TypeAdapter(ROOTS[root]).validate_python(message)
    except ValidationError:
        return False
    return True


def node_verdicts(samples: list[tuple[str, Any]]) -> list[bool]:
    """The agent's validators (protocol.validate.mjs) on each sample, in one Node process."""
    script = (
        "import fs from 'node:fs'; import * as v from './protocol.validate.mjs';"
        "const samples = JSON.parse(fs.readFileSync(0, 'utf8'));"
        "process.stdout.write(JSON.stringify(samples.map(([root, m]) => v[root](m))));"
    )
    done = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        input=json.dumps(samples),
        capture_output=True,
        text=True,
        cwd=AGENT,
        check=True,
    )
    return list(json.loads(done.stdout))


def test_the_agents_schema_and_validators_are_made_from_the_models(tmp_path: Path) -> None:
    assert (AGENT / protocol.SCHEMA_FILE).read_text() == protocol.schema_text(), (
        "protocol.schema.json is stale: run make agent-schema"
    )
    made = tmp_path / "validate.mjs"
    subprocess.run(["node", "tools/make-validators.mjs", str(made)], cwd=AGENT, check=True)
    assert (AGENT / "protocol.validate.mjs").read_text() == made.read_text(), (
        "protocol.validate.mjs is stale: run make agent-schema"
    )


def test_both_sides_give_the_same_verdict() -> None:
    node = node_verdicts([(root, message) for root, message, _ in SAMPLES])
    for (root, message, valid), agent_says in zip(SAMPLES, node, strict=True):
        assert python_verdict(root, message) is valid, (root, message)
        assert agent_says is valid, ("the agent disagrees", root, message)


def test_the_config_the_service_writes_is_one_the_agent_takes(tmp_path: Path) -> None:
    settings = Settings()
    spec = SandboxSpec(
        session_id="abc123def456",
        workspace=tmp_path,
        vite_root=tmp_path,
        package_dir=tmp_path,
        cache_dir=tmp_path / "cache",
        run_dir=tmp_path / "run",
        package_json={},
        public_host="preview-abc123def456.localhost",
        ws_client_port=None,
        ws_path=settings.hmr_path,
        ws_protocol="ws",
        add_react_plugin=True,
    )
    config = agent_config(
        spec,
        "token",
        root=str(tmp_path),
        workspace=str(tmp_path),
        templateDir="/t",
        controlSocket=str(tmp_path / "run" / "control.sock"),
        port=5173,
    )
    written = json.loads(config.model_dump_json(exclude_none=True))
    assert node_verdicts([("AgentConfig", written)]) == [True]
    with pytest.raises(ValidationError):
        agent_config(
            spec,
            "token",
            root="/r",
            workspace="/w",
            templateDir="/t",
            controlSocket="/c",
            shell="sh",
        )


def test_a_line_outside_the_protocol_is_said_not_dropped() -> None:
    assert protocol.agent_event("plain text from node") == protocol.Log(
        type="log", message="plain text from node"
    )
    said = protocol.agent_event('{"type": "ack", "seq": "one"}')
    assert isinstance(said, protocol.Log) and said.level == "error"
    assert said.message.startswith("agent protocol: ") and "seq" in said.message


def test_the_agent_and_its_page_client_pass_eslint(tmp_path: Path) -> None:
    """ESLint's recommended rules (agent/tools/eslint.config.js) on every file of the agent,
    and the check is live: a file with an unused variable fails it."""
    eslint = ["tools/node_modules/.bin/eslint", "--config", "tools/eslint.config.js"]
    done = subprocess.run([*eslint, "."], cwd=AGENT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    probe = AGENT / "page" / f"lint-probe-{tmp_path.name}.js"
    probe.write_text("const unused = 1;\n")
    try:
        done = subprocess.run([*eslint, str(probe)], cwd=AGENT, capture_output=True, text=True)
    finally:
        probe.unlink()
    assert done.returncode == 1 and "no-unused-vars" in done.stdout, done.stdout + done.stderr
