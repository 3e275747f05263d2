"""Published deployments: where a session's built site is, ``<deployments_dir>/<id>/site``.

The local deployer publishes a site there; the HTTP surface serves it
(``kontext_preview.proxy.sites``: each on its own origin, ``{deploy_prefix}{id}.{domain}``;
and the preview's own address while it stands in for the live preview).
"""

from pathlib import Path

from kontext_preview.config import Settings


def site_folder(settings: Settings, session_id: str) -> Path:
    """The folder of the session's published site (there or not)."""
    return settings.deploy_root / session_id / "site"


def is_published(site: Path) -> bool:
    """Whether ``site`` (a :func:`site_folder`) holds a published site."""
    return (site / "index.html").is_file()
