"""Full deployments: the queue, the Deployer interface and the built-in deployers."""

from kontext_preview.config import Settings
from kontext_preview.deploy.base import Deployer, RecordOnly
from kontext_preview.sandbox.base import SandboxBackend


def create_deployer(settings: Settings, backend: SandboxBackend) -> Deployer:
    """The configured deployer; the built-in one builds where ``backend`` runs previews."""
    if settings.deployer == "command":
        from kontext_preview.deploy.command import CommandDeployer

        return CommandDeployer(settings)
    if settings.deployer == "local":
        from kontext_preview.deploy.local import LocalDeployer

        return LocalDeployer(settings, backend)
    return RecordOnly()
