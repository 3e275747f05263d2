"""The built-in ``local`` deployer: check the backend, build the frontend, publish the site.

1. Motoko (while 2 runs): every ``.mo`` file is type-checked by the real
   compiler (the ``motoko`` npm package, ``sandbox-images/deployer/motoko-check.mjs``);
   errors fail the deployment with their file, line and message, for the chat to
   hand to the AI.
2. Frontend: the project's dependencies are prepared as for a preview (the
   template, or npm with install scripts disabled), then the agent runs a
   production ``vite build`` with the preview's plugins.
3. The built site replaces the session's published one in a single rename and is
   served at ``http://deploy-{id}.{domain}:{port}/`` (``kontext_preview.deploy.sites``).

The project's build runs with this process's rights, as the local sandbox's
dev server does; run sandboxes in containers where that matters.
"""

import asyncio
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kontext_preview.config import Settings
from kontext_preview.deploy.base import (
    Deployer,
    DeployFailed,
    DeployJob,
    DeployResult,
    Progress,
    run_step,
)
from kontext_preview.errors import KontextError
from kontext_preview.sandbox.base import SandboxSpec
from kontext_preview.sandbox.npm import prepare_dependencies
from kontext_preview.workspace.layout import read_package_json

_PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")
MAX_DIAGNOSTICS = 50


class LocalDeployer(Deployer):
    name = "local"

    def __init__(self, settings: Settings):
        self.settings = settings

    async def run(self, job: DeployJob, progress: Progress) -> DeployResult:
        deployment = job.deployment
        work = self.settings.deploy_root / deployment.session_id / f"build-{deployment.id}"
        try:
            src = work / "src"
            write_files(src, job.files)
            # The backend check and the frontend build are independent: run them together.
            # Motoko errors win (their diagnostics are what the AI needs), then build errors.
            checked, built = await asyncio.gather(
                self._check_motoko(src, job, progress),
                self._build(src, work, job, progress),
                return_exceptions=True,
            )
            for outcome in (checked, built):
                if isinstance(outcome, BaseException):
                    raise outcome
            assert isinstance(checked, list)
            diagnostics = checked
            self._publish(work / "dist", deployment.session_id)
            url = self.settings.deploy_url(deployment.session_id)
            progress(f"published at {url}")
            return DeployResult(url, diagnostics)
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)

    async def forget(self, session_id: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.settings.deploy_root / session_id, True)

    async def _check_motoko(
        self, src: Path, job: DeployJob, progress: Progress
    ) -> list[dict[str, Any]]:
        motoko = sorted(name for name in job.files if name.endswith(".mo"))
        if not motoko:
            return []
        progress(f"motoko: type-checking {len(motoko)} file(s)")
        out = await self._node(
            [str(self.settings.deployer_tools_dir / "motoko-check.mjs")],
            {"root": str(src), "files": motoko, "flags": self.settings.motoko_flags},
            src,
            "the Motoko check",
        )
        try:
            report = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise DeployFailed(f"the Motoko check printed no result: {out[-300:]}") from None
        diagnostics: list[dict[str, Any]] = report["diagnostics"][:MAX_DIAGNOSTICS]
        errors = [d for d in diagnostics if d["severity"] == "error"]
        for d in diagnostics:
            progress(
                f"motoko: {d['file']}:{d['line']}:{d['column']}: {d['severity']}: "
                + d["message"].replace("\n", " ")
            )
        if errors:
            first = errors[0]
            raise DeployFailed(
                f"Motoko type check failed with {len(errors)} error(s); first: "
                f"{first['file']}:{first['line']}: {' '.join(first['message'].split())}",
                diagnostics,
            )
        progress("motoko: no errors")
        return diagnostics

    async def _build(self, src: Path, work: Path, job: DeployJob, progress: Progress) -> None:
        settings = self.settings
        package_dir = src / job.package_dir
        vite_root = src / job.vite_root
        spec = SandboxSpec(
            session_id=job.deployment.session_id,
            workspace=src,
            vite_root=vite_root,
            package_dir=package_dir,
            cache_dir=work / "vite-cache",
            run_dir=work / "run",
            package_json=read_package_json(job.files, job.package_dir),
            public_host="",
            ws_client_port=None,
            ws_path="",
            ws_protocol="ws",
            add_react_plugin=False,
        )
        try:
            await prepare_dependencies(settings, spec, progress)
        except KontextError as exc:
            raise DeployFailed(exc.message) from None
        config = {
            "mode": "build",
            "root": str(vite_root),
            "templateDir": str(settings.template_dir),
            "cacheDir": str(work / "vite-cache"),
            "outDir": str(work / "dist"),
            "addReactPlugin": job.add_react_plugin,
        }
        progress("vite build: started")
        await self._node(
            [str(settings.agent_dir / "agent.mjs"), json.dumps(config)],
            None,
            vite_root,
            "vite build",
            progress,
        )
        if not (work / "dist" / "index.html").is_file():
            raise DeployFailed("vite build produced no index.html")

    def _publish(self, dist: Path, session_id: str) -> None:
        """Swap the new site in with renames: readers see the old site or the new one."""
        base = self.settings.deploy_root / session_id
        site, old = base / "site", base / f"site.old-{os.getpid()}"
        if site.exists():
            site.rename(old)
        dist.rename(site)
        shutil.rmtree(old, ignore_errors=True)

    async def _node(
        self,
        args: list[str],
        request: dict[str, Any] | None,
        cwd: Path,
        what: str,
        progress: Progress | None = None,
    ) -> str:
        """Run a Node script; with ``progress``, its JSON-line events go there as text.
        Returns its output."""
        settings = self.settings
        if request is not None:
            args = [*args, json.dumps(request)]
        output: list[str] = []

        def on_line(line: str) -> None:
            output.append(line)
            if progress is not None and (text := _event_line(line)):
                progress(text)

        env = {k: v for k, v in os.environ.items() if k in _PASSED_ENV}
        argv = [settings.node_binary, *args]
        await run_step(argv, cwd, env, settings.deploy_timeout_seconds, what, on_line)
        return "\n".join(output)


def _event_line(line: str) -> str:
    try:
        event = json.loads(line)
    except ValueError:
        return line
    if not isinstance(event, dict):
        return line
    if event.get("type") == "error":
        return f"error: {event.get('message', '')}"
    if event.get("type") == "built":
        return "vite build: done"
    return str(event.get("message", "")).rstrip()


def write_files(root: Path, files: Mapping[str, bytes]) -> None:
    """Write a snapshot of already validated names (the virtual file system checked them)."""
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
