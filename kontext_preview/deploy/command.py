"""The ``command`` deployer: run the operator's deployment command (e.g. ``dfx deploy``).

The command (``KONTEXT_DEPLOY_COMMAND``, split like a shell would, never run by
a shell) runs in a fresh copy of the session's files with a timeout
(``KONTEXT_DEPLOY_TIMEOUT_SECONDS``); its output is streamed line by line as
``deploy.progress`` events. A line ``KONTEXT_DEPLOYMENT_URL=<url>`` sets the
deployment's URL. The environment carries ``KONTEXT_SESSION_ID``,
``KONTEXT_DEPLOYMENT_ID`` and what ``KONTEXT_DEPLOY_ENV`` names, nothing else of ours.
"""

import os
import shlex

from kontext_preview.config import Settings
from kontext_preview.deploy.base import (
    Deployer,
    DeployJob,
    DeployResult,
    Progress,
    remove_tree,
    run_step,
)
from kontext_preview.deploy.local import write_files

URL_MARKER = "KONTEXT_DEPLOYMENT_URL="
_BASE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


class CommandDeployer(Deployer):
    name = "command"

    def __init__(self, settings: Settings):
        if not settings.deploy_command:
            raise ValueError("KONTEXT_DEPLOYER=command needs KONTEXT_DEPLOY_COMMAND")
        self.settings = settings
        self.argv = shlex.split(settings.deploy_command)

    async def run(self, job: DeployJob, progress: Progress) -> DeployResult:
        settings = self.settings
        deployment = job.deployment
        work = settings.deploy_root / deployment.session_id / f"build-{deployment.id}"
        try:
            write_files(work, job.files)
            env = {k: v for k, v in os.environ.items() if k in (*_BASE_ENV, *settings.deploy_env)}
            env |= {
                "KONTEXT_SESSION_ID": deployment.session_id,
                "KONTEXT_DEPLOYMENT_ID": deployment.id,
            }
            url: str | None = None

            def on_line(line: str) -> None:
                nonlocal url
                if line.startswith(URL_MARKER):
                    url = line[len(URL_MARKER) :].strip() or None
                progress(line)

            await run_step(
                self.argv, work, env, settings.deploy_timeout_seconds, "the deploy command", on_line
            )
            return DeployResult(url)
        finally:
            await remove_tree(work)

    async def forget(self, session_id: str) -> None:
        await remove_tree(self.settings.deploy_root / session_id)
