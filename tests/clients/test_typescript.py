"""The TypeScript client (clients/typescript): its types match the API's schema, it
compiles, and its own tests (vitest) pass against a real running service."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kontext_preview.config import REPO_ROOT
from tests.server import ALICE_KEY, BOB_KEY, ApiServer

CLIENT = REPO_ROOT / "clients" / "typescript"


def npx(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    done = subprocess.run(
        ["npx", "--no-install", *args],
        cwd=CLIENT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (
        f"npx {' '.join(args)}:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout


def test_the_types_are_made_from_the_current_schema(tmp_path: Path) -> None:
    """`make client-types` was run after the API last changed (else: run it, commit)."""
    schema = subprocess.run(
        [sys.executable, "-m", "kontext_preview", "openapi"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    committed = (CLIENT / "openapi.json").read_text()
    assert json.loads(schema) == json.loads(committed), "openapi.json is stale: make client-types"
    (tmp_path / "openapi.json").write_text(schema)
    out = tmp_path / "schema.d.ts"
    npx(
        "openapi-typescript",
        str(tmp_path / "openapi.json"),
        "--default-non-nullable",
        "false",
        "-o",
        str(out),
    )
    assert out.read_text() == (CLIENT / "src" / "schema.d.ts").read_text(), (
        "src/schema.d.ts is stale: make client-types"
    )


def test_the_client_compiles() -> None:
    npx("tsc", "-p", "tsconfig.json", "--noEmit")


def test_the_clients_tests_type_check_their_narrowing_on_event_types() -> None:
    """The tests assert with expectTypeOf what each event's data is once its type is
    known: tsc checks those assertions (vitest alone would not)."""
    npx("tsc", "-p", "tsconfig.test.json")


@pytest.mark.vite
def test_the_clients_own_tests_pass_against_a_running_service(tmp_path: Path) -> None:
    server = ApiServer.start(tmp_path)
    try:
        npx(
            "vitest",
            "run",
            env={
                "KONTEXT_BASE_URL": server.base_url,
                "KONTEXT_API_KEY": ALICE_KEY,
                "KONTEXT_OTHER_API_KEY": BOB_KEY,
                "KONTEXT_OPENAPI": str(CLIENT / "openapi.json"),
            },
        )
    finally:
        server.stop()
