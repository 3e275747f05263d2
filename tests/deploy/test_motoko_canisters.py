"""The local deployer's Motoko check knows the project: `import X "canister:name"` resolves
from its dfx.json or icp.yaml (a Motoko canister's interface derived by the real moc, a
declared .did used as it is), and mops.toml's packages are loaded or named as missing."""

import json
from typing import Any

import httpx
import pytest

from tests.conftest import create_session, push, replace_file
from tests.deploy.test_deployments import MOTOKO, until_deployed
from tests.distributed.cluster import SseEvent, read_events
from tests.server import ApiServer

pytestmark = [pytest.mark.vite]
COUNTER = "src/counter/main.mo"

COUNTER_ACTOR = """import Nat "mo:core/Nat";

actor {
  var total : Nat = 0;

  public func add(amount : Nat) : async Nat {
    total += amount;
    total
  };
};
"""

# The backend calls the counter canister (and, with icp.yaml, a Rust ledger by its .did).
CALLER = """import Counter "canister:counter";

actor {
  public query func greet(name : Text) : async Text {
    return "Hello, " # name # "!";
  };

  public func bump() : async Nat {
    await Counter.add(ARGUMENT)
  };
};
"""

DFX_JSON = {
    "canisters": {
        "backend": {"type": "motoko", "main": MOTOKO},
        "counter": {"type": "motoko", "main": COUNTER},
        "frontend": {"type": "assets", "dependencies": ["backend"], "source": ["dist"]},
    }
}

ICP_YAML = f"""canisters:
  - name: backend
    recipe:
      type: "@dfinity/motoko@v4.0.0"
      configuration:
        main: {MOTOKO}
  - name: counter
    build:
      steps:
        - type: script
          commands:
            - $(mops toolchain bin moc) {COUNTER} $(mops sources) -o "$ICP_WASM_OUTPUT_PATH"
  - canisters/*
"""

LEDGER_MANIFEST = """name: ledger
recipe:
  type: "@dfinity/rust@v3.0.0"
  configuration:
    package: ledger
    candid: ledger.did
"""

LEDGER_DID = "service : { fee : () -> (nat) query }\n"

LEDGER_CALLER = """import Counter "canister:counter";
import Ledger "canister:ledger";

actor {
  public func bump() : async Nat {
    let fee = await Ledger.fee();
    await Counter.add(fee + 1)
  };
};
"""

BASE_USER = """import Nat "mo:base/Nat";

actor {
  public func smaller() : async Nat { Nat.min(1, 2) };
};
"""


def caller(argument: str) -> str:
    return CALLER.replace("ARGUMENT", argument)


def dfx_project(files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The test project with a second Motoko canister, both declared in dfx.json."""
    files = replace_file(files, "dfx.json", json.dumps(DFX_JSON, indent=2))
    return replace_file(files, COUNTER, COUNTER_ACTOR)


def deploy(
    api: httpx.Client, server: ApiServer, files: list[dict[str, Any]], main: str
) -> SseEvent:
    """Start a session on ``files``, change the backend to ``main``: the deployment's last
    event (the session is deleted)."""
    sid = create_session(api, files)["sessionId"]
    try:
        assert push(api, sid, MOTOKO, main)["strategy"] == "full-deploy"
        events = read_events(server.base_url, sid, until=until_deployed, timeout=120)
        last = events[-1]
        batches = [e.data["line"] for e in events if e.type == "deploy.progress"]
        last.data["progress"] = [line for batch in batches for line in batch.splitlines()]
        return last
    finally:
        api.delete(f"/kontext/preview/{sid}")


def test_a_canister_import_declared_in_dfx_json_is_checked_against_its_interface(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    done = deploy(api, server, dfx_project(files), caller("2"))
    assert done.type == "deploy.succeeded", done.data
    progress = done.data["progress"]
    assert 'motoko: canister "counter": interface from src/counter/main.mo' in progress, progress
    assert "motoko: no errors" in progress


def test_canisters_declared_in_icp_yaml_resolve_from_a_recipe_a_script_and_a_manifest(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    """icp-cli's forms: a Motoko recipe's main, a build script's moc command, and a canister
    manifest (canisters/*) of a Rust canister whose .did is used as it is."""
    project = [f for f in files if f["name"] != "dfx.json"]
    project = replace_file(project, "icp.yaml", ICP_YAML)
    project = replace_file(project, COUNTER, COUNTER_ACTOR)
    project = replace_file(project, "canisters/ledger/canister.yaml", LEDGER_MANIFEST)
    project = replace_file(project, "canisters/ledger/ledger.did", LEDGER_DID)
    done = deploy(api, server, project, LEDGER_CALLER)
    assert done.type == "deploy.succeeded", done.data
    progress = done.data["progress"]
    assert 'motoko: canister "counter": interface from src/counter/main.mo' in progress, progress
    assert 'motoko: canister "ledger": interface from canisters/ledger/ledger.did' in progress


def test_a_type_error_in_a_call_to_another_canister_has_file_line_and_column(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    done = deploy(api, server, dfx_project(files), caller('"two"'))
    assert done.type == "deploy.failed", done.data
    [diagnostic] = done.data["diagnostics"]
    assert diagnostic["file"] == MOTOKO and diagnostic["code"] == "M0050", diagnostic
    assert (diagnostic["line"], diagnostic["column"]) == (9, 23), diagnostic
    assert "Text" in diagnostic["message"] and "Nat" in diagnostic["message"]
    assert (
        f"{MOTOKO}:9:23: literal of type Text does not have expected type Nat"
        in (done.data["error"])
    )


def test_an_import_of_a_canister_the_project_does_not_declare_is_named_with_where_it_looked(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    main = caller("2").replace('"canister:counter"', '"canister:wallet"')
    done = deploy(api, server, dfx_project(files), main)
    assert done.type == "deploy.failed", done.data
    [diagnostic] = done.data["diagnostics"]
    assert (diagnostic["file"], diagnostic["line"], diagnostic["column"]) == (MOTOKO, 1, 1)
    assert diagnostic["message"] == (
        'canister "wallet" is not declared by the project; looked at '
        "dfx.json (declares backend, counter, frontend), icp.yaml (absent)"
    )
    assert f'{MOTOKO}:1:1: canister "wallet" is not declared' in done.data["error"]


def test_a_mops_package_the_deployer_does_not_bundle_is_one_failure_naming_it(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    """mops.toml asks for base, which the compiler package does not bundle: the failure
    names the package, its version and why, not moc's errors in the user's code."""
    project = replace_file(files, "mops.toml", '[dependencies]\ncore = "2.5.0"\nbase = "0.16.0"\n')
    main = BASE_USER
    done = deploy(api, server, project, main)
    assert done.type == "deploy.failed", done.data
    assert done.data["diagnostics"] == []
    error = done.data["error"]
    assert error.startswith(
        'Motoko check not run: mops.toml asks for package the deployer cannot load: "base" '
        "(version 0.16.0): not bundled with the deployer's compiler (motoko 4.10.0 bundles "
        "core 2.5.0)"
    ), error
    assert "does not download packages from the mops registry" in error, error
