"""Published deployments, each on its own origin: ``{deploy_prefix}{id}.{domain}``.

The local deployer publishes a session's built site into its folder
(``kontext_preview.deploy.sites``); this serves it as static files (Starlette's
StaticFiles: no path escapes, ETags, ranges). A path that names no file gets the
site's ``index.html``, so client-side routes work as in the preview.
"""

from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from kontext_preview import pages
from kontext_preview.config import Settings
from kontext_preview.deploy.sites import is_published, site_folder
from kontext_preview.proxy.pages import page_response


class DeployedSites:
    def __init__(self, settings: Settings):
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send, session_id: str) -> None:
        site = site_folder(self.settings, session_id)
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})  # static sites have none
            return
        if not is_published(site):
            await page_response(pages.not_deployed())(scope, receive, send)
            return
        try:
            await SpaFiles(site)(scope, receive, send)
        except HTTPException as exc:  # method not allowed and the like
            await page_response(pages.error_page(exc.status_code, str(exc.detail)))(
                scope, receive, send
            )


class SpaFiles(StaticFiles):
    """A built site's files; a path that names no file gets its ``index.html``."""

    def __init__(self, site: Path):
        super().__init__(directory=site, html=True, check_dir=False)

    async def get_response(self, path: str, scope: Scope):  # type: ignore[no-untyped-def]
        try:
            return await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404 or "." in path.rsplit("/", 1)[-1]:
                raise
            return await super().get_response("index.html", scope)
