"""The local deployer's Motoko check: what it asks the compiler, and what its answer means.

The check itself is ``sandbox-images/deployer/motoko-check.mjs`` (the real moc, from the
``motoko`` npm package), run where the sandbox backend runs projects' code. This module
builds its request and turns its report into progress lines, diagnostics or one failure:

- ``mo:`` packages: the project's ``mops.toml`` (its ``[dependencies]``, ``name = "version"``)
  is read here with ``tomllib`` and passed on. The script loads what the compiler package
  bundles (``core``); a declared package that is not bundled cannot be had offline and fails
  the check with one message naming it, instead of moc's errors in the user's code.
- ``import X "canister:name"``: the script resolves it from the project's ``dfx.json`` and
  ``icp.yaml`` (``motoko-canisters.mjs``) and reports, per imported canister, where its
  interface came from; an import it cannot resolve is an error diagnostic at the import.
- Diagnostics keep file, line and column (1-based), and lose terminal colours.
"""

import tomllib
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from kontext_preview.deploy.base import DeployFailed, Progress
from kontext_preview.event_models import Diagnostic
from kontext_preview.logs import plain

MAX_DIAGNOSTICS = 50
MOPS_TOML = "mops.toml"  # at the project root, where mops and icp-cli look for it


def check_request(root: str, files: Mapping[str, bytes], flags: list[str]) -> dict[str, Any]:
    """The script's one argument: ``{"root", "files": [.mo paths], "flags": [moc flags],
    "packages"?: {name: version}}`` (``packages`` only when there is a mops.toml)."""
    request: dict[str, Any] = {
        "root": root,
        "files": sorted(name for name in files if name.endswith(".mo")),
        "flags": flags,
    }
    packages = mops_dependencies(files)
    if packages is not None:
        request["packages"] = packages
    return request


def mops_dependencies(files: Mapping[str, bytes]) -> dict[str, str] | None:
    """``mops.toml``'s ``[dependencies]`` as ``{name: version}`` (a version may also be a
    repository URL); None without a mops.toml."""
    content = files.get(MOPS_TOML)
    if content is None:
        return None
    try:
        config = tomllib.loads(content.decode("utf-8", errors="replace"))
    except tomllib.TOMLDecodeError as exc:
        raise DeployFailed(f"{MOPS_TOML} is not valid TOML: {exc}") from None
    dependencies = config.get("dependencies", {})
    if not isinstance(dependencies, dict):
        raise DeployFailed(f'{MOPS_TOML}: [dependencies] must be a table of name = "version"')
    return {str(name): _version(value) for name, value in dependencies.items()}


class UnavailablePackage(BaseModel):
    name: str
    version: str
    reason: str


class CheckReport(BaseModel):
    """What motoko-check.mjs prints, as its last line."""

    checked: list[str] = Field(default_factory=list, description="the .mo files checked")
    diagnostics: list[Diagnostic] = Field(default_factory=list)
    canisters: dict[str, str] = Field(
        default_factory=dict, description="imported canister -> where its interface came from"
    )
    unavailablePackages: list[UnavailablePackage] = Field(default_factory=list)  # noqa: N815
    notes: list[str] = Field(default_factory=list)


def read_report(output: str, progress: Progress) -> list[Diagnostic]:
    """The diagnostics of the script's report (its last output line); raises DeployFailed
    on unavailable packages or any error diagnostic."""
    try:
        report = CheckReport.model_validate_json(output.strip().splitlines()[-1])
    except (ValidationError, IndexError):
        raise DeployFailed(f"the Motoko check printed no result: {output[-300:]}") from None
    for note in report.notes:
        progress(f"motoko: {note}")
    if report.unavailablePackages:
        raise DeployFailed(_unavailable_message(report.unavailablePackages))
    for name, source in sorted(report.canisters.items()):
        progress(f'motoko: canister "{name}": interface from {source}')
    diagnostics = report.diagnostics[:MAX_DIAGNOSTICS]
    for d in diagnostics:
        d.message = plain(d.message)
        progress(
            f"motoko: {d.file}:{d.line}:{d.column}: {d.severity}: " + d.message.replace("\n", " ")
        )
    errors = [d for d in diagnostics if d.severity == "error"]
    if errors:
        first = errors[0]
        raise DeployFailed(
            f"Motoko type check failed with {len(errors)} error(s); first: "
            f"{first.file}:{first.line}:{first.column}: " + " ".join(first.message.split()),
            diagnostics,
        )
    progress("motoko: no errors")
    return diagnostics


def _unavailable_message(unavailable: list[UnavailablePackage]) -> str:
    listed = "; ".join(f'"{p.name}" (version {p.version}): {p.reason}' for p in unavailable)
    noun = "package" if len(unavailable) == 1 else "packages"
    return f"Motoko check not run: {MOPS_TOML} asks for {noun} the deployer cannot load: {listed}"


def _version(value: object) -> str:
    """A dependency's version: ``"1.2.0"``, or a table such as ``{version = "1.2.0"}``."""
    if isinstance(value, dict) and "version" in value:
        return str(value["version"])
    return str(value)
