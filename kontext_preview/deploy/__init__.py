"""Full deployments: the queue, the Deployer interface and the built-in deployers."""

from kontext_preview.config import Settings
from kontext_preview.deploy.base import Deployer, RecordOnly


def create_deployer(settings: Settings) -> Deployer:
    if settings.deployer == "command":
        from kontext_preview.deploy.command import CommandDeployer

        return CommandDeployer(settings)
    if settings.deployer == "local":
        from kontext_preview.deploy.local import LocalDeployer

        return LocalDeployer(settings)
    return RecordOnly()
