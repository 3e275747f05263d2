"""The Node a project needs (kontext_preview.sandbox.node_runtime): npm's semver judges the
engines.node ranges of the project and of its direct dependencies as installed."""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kontext_preview.config import Settings
from kontext_preview.errors import SandboxError
from kontext_preview.sandbox.node_runtime import NodeRuntimes, wanted_ranges


def project(tmp_path: Path, own: str | None, deps: dict[str, str | None]) -> Path:
    package: dict[str, object] = {"dependencies": {name: "*" for name in deps}}
    if own is not None:
        package["engines"] = {"node": own}
    (tmp_path / "package.json").write_text(json.dumps(package))
    for name, wanted in deps.items():
        folder = tmp_path / "node_modules" / name
        folder.mkdir(parents=True)
        installed: dict[str, object] = {"name": name, "version": "1.2.3"}
        if wanted is not None:
            installed["engines"] = {"node": wanted}
        (folder / "package.json").write_text(json.dumps(installed))
    return tmp_path


def for_project(tmp_path: Path, settings: Settings | None = None) -> Path | None:
    """NodeRuntimes.for_project on a loop of its own thread (a sync Playwright test earlier in
    the session leaves this thread's loop running)."""
    runtimes = NodeRuntimes(settings or Settings())
    work = runtimes.for_project(tmp_path, tmp_path / "node_modules", lambda _: None)
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, work).result()


def test_the_ranges_are_the_projects_and_its_direct_dependencies(tmp_path: Path) -> None:
    root = project(tmp_path, ">=18", {"astro": ">=22.12.0", "@scope/x": None, "y": " "})
    assert wanted_ranges(root, root / "node_modules") == [
        {"who": "the project's package.json", "range": ">=18"},
        {"who": "astro@1.2.3", "range": ">=22.12.0"},
    ]


def test_the_machines_node_is_kept_where_it_satisfies_every_range(tmp_path: Path) -> None:
    # npm's own syntax, spaces after operators included; an invalid range is ignored, as npm does
    root = project(tmp_path, ">= 18.17.0", {"a": "^20.3.0 || >=22.0.0", "b": "not a range!"})
    assert for_project(root) is None


def test_a_range_no_offered_major_satisfies_is_refused_naming_it(tmp_path: Path) -> None:
    root = project(tmp_path, None, {"future-framework": ">=99"})
    with pytest.raises(
        SandboxError, match=r"majors 22, 24, 26.*future-framework@1.2.3 wants Node >=99"
    ):
        for_project(root)
    with pytest.raises(SandboxError, match="majors 26"):
        for_project(root, Settings(node_runtime_majors=[26]))
