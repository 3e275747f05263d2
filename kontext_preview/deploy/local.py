"""The built-in ``local`` deployer: check the backend, build the frontend, publish the site.

1. Motoko (while 2 runs): every ``.mo`` file is type-checked by the real
   compiler (the ``motoko`` npm package, ``sandbox-images/deployer/motoko-check.mjs``),
   with the ``mo:`` packages of ``mops.toml`` and the canisters of ``dfx.json`` /
   ``icp.yaml`` (``kontext_preview.deploy.motoko``); errors fail the deployment with
   their file, line, column and message, for the chat to hand to the AI.
2. Frontend: the project's dependencies are prepared as for a preview (the
   template, or npm with install scripts disabled), then the agent runs a
   production ``vite build`` with the preview's plugins.
3. The built site replaces the session's published one in a single rename and is
   served at ``http://deploy-{id}.{domain}:{port}/`` (``kontext_preview.proxy.sites``).

Steps 1 and 2 run the project's code (its vite.config, its plugins) and its sources
through compilers: they run where the sandbox backend runs dev servers
(``SandboxBackend.run_tool``): processes of this machine with the local backend, and
with the docker backend a container as hardened as a preview's, with no network,
the project read-only and only the build's output folder writable.
"""

import asyncio
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from kontext_preview.config import Settings
from kontext_preview.deploy.base import (
    Deployer,
    DeployFailed,
    DeployJob,
    DeployResult,
    LineSink,
    Progress,
    follow_step,
    remove_tree,
)
from kontext_preview.deploy.motoko import check_request, read_report
from kontext_preview.deploy.sites import site_folder
from kontext_preview.errors import KontextError
from kontext_preview.event_models import Diagnostic
from kontext_preview.sandbox.base import SandboxBackend, SandboxSpec
from kontext_preview.sandbox.node_runtime import NodeRuntimes
from kontext_preview.sandbox.protocol import BuildConfig
from kontext_preview.workspace.layout import detect_layout, read_package_json

ERROR_PREFIX = "error: "  # how a step's error event reads in the progress lines


class LocalDeployer(Deployer):
    name = "local"

    def __init__(self, settings: Settings, backend: SandboxBackend):
        self.settings = settings
        self.backend = backend
        self.runtimes = NodeRuntimes(settings)

    async def run(self, job: DeployJob, progress: Progress) -> DeployResult:
        deployment = job.deployment
        work = self.settings.deploy_root / deployment.session_id / f"build-{deployment.id}"
        try:
            spec = self._spec(work, job)
            out = work / "out"
            write_files(spec.workspace, job.files)
            for folder in (out, spec.cache_dir):
                folder.mkdir(parents=True, exist_ok=True)
            # The backend check and the frontend build are independent: run them together.
            # Motoko errors win (their diagnostics are what the AI needs), then build errors.
            checked, built = await asyncio.gather(
                self._check_motoko(spec, out, job, progress),
                self._build(spec, out, job, progress),
                return_exceptions=True,
            )
            for outcome in (checked, built):
                if isinstance(outcome, BaseException):
                    raise outcome
            assert isinstance(checked, list)
            diagnostics = checked
            self._publish(out / "dist", deployment.session_id)
            url = self.settings.deploy_url(deployment.session_id)
            progress(f"published at {url}")
            return DeployResult(url, diagnostics)
        finally:
            await remove_tree(work)

    async def forget(self, session_id: str) -> None:
        await remove_tree(self.settings.deploy_root / session_id)

    def _spec(self, work: Path, job: DeployJob) -> SandboxSpec:
        """The build's own folders, shaped as a session's (dependencies, a backend's
        containers): src/ the project, scratch/ caches, out/ what the build writes."""
        src = work / "src"
        return SandboxSpec(
            session_id=job.deployment.session_id,
            workspace=src,
            vite_root=src / job.vite_root,
            package_dir=src / job.package_dir,
            cache_dir=work / "scratch",
            run_dir=work / "run",
            package_json=read_package_json(job.files, job.package_dir),
            public_host="",
            ws_client_port=None,
            ws_path="",
            ws_protocol="ws",
            add_react_plugin=False,
            generated_dirs=detect_layout(job.files).generated_dirs,
        )

    async def _check_motoko(
        self, spec: SandboxSpec, out: Path, job: DeployJob, progress: Progress
    ) -> list[Diagnostic]:
        if not any(name.endswith(".mo") for name in job.files):
            return []
        paths = self.backend.tool_paths(spec, out)
        request = check_request(paths.workspace, job.files, self.settings.motoko_flags)
        progress(f"motoko: type-checking {len(request['files'])} file(s)")
        output = await self._node(
            spec,
            out,
            [f"{paths.deployer}/motoko-check.mjs", json.dumps(request)],
            spec.workspace,
            "the Motoko check",
        )
        return read_report(output, progress)

    async def _build(
        self, spec: SandboxSpec, out: Path, job: DeployJob, progress: Progress
    ) -> None:
        meta = detect_layout(job.files).meta
        if meta is not None and meta.no_deployment:
            raise DeployFailed(meta.no_deployment)
        try:
            await self.backend.prepare(spec, progress)
            spec = replace(spec, node=await self.runtimes.for_spec(spec, self.backend, progress))
        except KontextError as exc:
            raise DeployFailed(exc.message) from None
        paths = self.backend.tool_paths(spec, out)
        config = BuildConfig(
            mode="build",
            root=paths.of(spec, spec.vite_root),
            templateDir=paths.template,
            cacheDir=f"{paths.scratch}/vite-cache",
            tempDir=paths.scratch,
            outDir=f"{paths.out}/dist",
            addReactPlugin=job.add_react_plugin,
            devServer=detect_layout(job.files).dev_server,
        )
        what = f"{config.devServer} build"  # the framework's own production build
        progress(f"{what}: started")
        args = [paths.agent, config.model_dump_json()]
        await self._node(spec, out, args, spec.vite_root, what, progress)
        if not (out / "dist" / "index.html").is_file():
            raise DeployFailed(f"{what} produced no index.html")

    def _publish(self, dist: Path, session_id: str) -> None:
        """Swap the new site in with renames: readers see the old site or the new one."""
        site = site_folder(self.settings, session_id)
        old = site.with_name(f"site.old-{os.getpid()}")
        if site.exists():
            site.rename(old)
        dist.rename(site)
        shutil.rmtree(old, ignore_errors=True)

    async def _node(
        self,
        spec: SandboxSpec,
        out: Path,
        args: list[str],
        cwd: Path,
        what: str,
        progress: Progress | None = None,
    ) -> str:
        """Run a Node script where the backend runs projects' code; with ``progress``, its
        JSON-line events go there as text. Returns its output."""
        output: list[str] = []
        errors: list[str] = []  # what the step reported as its error ({"type": "error"})

        def on_line(line: str) -> None:
            output.append(line)
            text = _event_line(line)
            if text and text.startswith(ERROR_PREFIX):
                errors.append(text.removeprefix(ERROR_PREFIX).strip())
            if progress is not None and text:
                progress(text)

        async def run(line: LineSink) -> int:
            try:
                return await self.backend.run_tool(spec, out, args, cwd, line)
            except KontextError as exc:
                raise DeployFailed(f"could not run {what}: {exc.message}") from None

        try:
            await follow_step(
                run, self.settings.deploy_timeout_seconds, what, on_line, readable=_event_line
            )
        except DeployFailed as exc:
            if not errors:
                raise
            raise DeployFailed(f"{what} failed: {errors[-1]}", exc.diagnostics) from None
        return "\n".join(output)


def _event_line(line: str) -> str:
    """A line of a Node step's output (the agent's build, the deployer's tools: each says
    ``error``, ``built`` or a ``message``), as the deployment's log shows it."""
    try:
        event = json.loads(line)
    except ValueError:
        return line
    if not isinstance(event, dict):
        return line
    if event.get("type") == "error":
        return f"{ERROR_PREFIX}{event.get('message', '')}"
    if event.get("type") == "built":
        return "vite build: done"
    return str(event.get("message", "")).rstrip()


def write_files(root: Path, files: Mapping[str, bytes]) -> None:
    """Write a snapshot of already validated names (the virtual file system checked them)."""
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
