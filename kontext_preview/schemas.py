"""The API's request and response models (/kontext/preview, /kontext/tokens,
/kontext/analyze), field names as in the Kontext plan. Only the HTTP surface imports them
(import-linter): what is below it answers its own models, which these are made from."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from kontext_preview.changes.schemas import FileChangeOut
from kontext_preview.contract import DeploymentFacts, UpdateOutcome
from kontext_preview.workspace.schemas import ProjectFile

# The contract's names are camelCase; keep them as written there.
# ruff: noqa: N815


EXAMPLE_FILES: list[JsonValue] = [
    {
        "name": "index.html",
        "content": "<div id=app></div><script type=module src=/main.js></script>",
    },
    {"name": "main.js", "content": "document.querySelector('#app').textContent = 'Hello'"},
]


class CreatePreviewRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"files": EXAMPLE_FILES}]})

    files: list[ProjectFile] = Field(min_length=1)
    packageJson: dict[str, Any] | None = Field(
        default=None, description="Written as the package.json next to the app's index.html."
    )
    projectType: str | None = Field(default=None, max_length=64)
    sessionId: str | None = Field(
        default=None,
        max_length=64,
        description="An existing session to replace the files of (files not sent are "
        "deleted), or an expired one to restore with these files.",
    )


class UpdatePreviewRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"files": [{"name": "main.js", "content": "document.title = 'Hi'"}]}]
        }
    )

    files: list[ProjectFile] = Field(default_factory=list)
    deletedFiles: list[str] = Field(default_factory=list, description="Names of files to delete.")


class PreviewSessionResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"description": "A preview session."})

    success: Literal[True] = True
    sessionId: str
    previewUrl: str
    wsUrl: str
    expiresAt: int = Field(description="Unix seconds; moves forward with activity.")
    status: str = Field(
        description="installing | starting | active | failed | hibernated (idle: resumed by "
        "the next preview request or update) | expired (create again to restore)"
    )
    error: str | None = Field(default=None, description="Why the session failed, if it did.")
    framework: str = Field(
        description="nextjs | nuxt | sveltekit | astro | react-router | angular (meta-frameworks) "
        "or vite-react | vite-vue | vite-svelte | vite-preact | vite-solid | vite-vanilla"
    )
    frameworkVersion: str | None = Field(
        default=None,
        description="The framework's version as the project's package.json asks for it (Vite's "
        "for a Vite app), as written: a range such as ^2.63.0.",
    )
    viteRoot: str = Field(
        description="The app's root folder: its index.html's, or the package.json's of a "
        "framework that renders its pages on the server; '' for the project root."
    )
    projectType: str | None = None
    deploymentUrl: str | None = Field(
        default=None, description="Where the latest successful full deployment is published."
    )
    fallback: str | None = Field(
        default=None,
        description="Set when the live preview cannot serve: why. A deployment runs instead and "
        "the preview URL redirects to deploymentUrl once it is up.",
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="What the service worked around to run the project, each a sentence: a "
        "peer-dependency conflict npm refused, installed with npm's legacy peer resolution "
        "(as pnpm and bun install it).",
    )


class DeploymentOut(DeploymentFacts):
    # The contract's model under the API's name; no docstring: the schema has no description.
    pass


class PreviewStatusResponse(PreviewSessionResponse):
    files: int
    lastEventId: str | None = Field(
        default=None,
        description="The id of the session's latest event: follow the event stream with it "
        "as Last-Event-ID to get only what happens from now on.",
    )
    logs: list[str] = Field(description="The last lines of install and dev-server output.")
    deployments: list[DeploymentOut] = Field(default_factory=list)


class Succeeded(BaseModel):
    success: Literal[True] = True


class UpdatePreviewResponse(UpdateOutcome, Succeeded):
    # pydantic orders fields by the bases in reverse: Succeeded, the last, puts `success`
    # first, where the API has always answered it. `deploy`: the API's DeploymentOut.
    deploy: DeploymentOut | None = Field(
        default=None, description="The deployment queued for a full-deploy change."
    )


class DeletePreviewResponse(BaseModel):
    success: Literal[True] = True


class InspectPreviewRequest(BaseModel):
    """What to look at: the page's size and how long to let it settle."""

    path: str = Field(default="/", max_length=2000, description="The page to open, e.g. /about.")
    width: int = Field(default=1280, ge=200, le=3840, description="Viewport width, CSS px.")
    height: int = Field(default=800, ge=200, le=2160, description="Viewport height, CSS px.")
    fullPage: bool = Field(
        default=False, description="Screenshot the whole page, not the viewport."
    )
    screenshot: bool = Field(default=True, description="False: everything but the picture.")
    settleMs: int = Field(
        default=500,
        ge=0,
        le=10_000,
        description="After the load event, wait this long without network requests.",
    )


class ConsoleMessage(BaseModel):
    level: str = Field(description="log | debug | info | warning | error | …, as Chromium says")
    text: str
    url: str | None = Field(default=None, description="The script that logged it, as served.")
    file: str | None = Field(default=None, description="That script's project file, if one.")
    line: int | None = Field(default=None, description="1-based, in the served script.")
    column: int | None = None


class PageError(BaseModel):
    message: str
    stack: str | None = None


class FailedRequest(BaseModel):
    url: str
    method: str
    status: int | None = Field(default=None, description="The HTTP status, if one came back.")
    failure: str | None = Field(default=None, description="Why no answer came (network error).")


class InspectPreviewResponse(BaseModel):
    """What a person would see: the picture, the title and text, the console, the errors."""

    success: Literal[True] = True
    url: str
    status: int | None = Field(description="The page's HTTP status.")
    title: str
    text: str = Field(description="The page's visible text, first 4000 characters.")
    screenshot: str | None = Field(description="PNG, base64.")
    width: int
    height: int = Field(description="Of the screenshot (the whole page with fullPage).")
    console: list[ConsoleMessage]
    errors: list[PageError] = Field(description="Uncaught errors and rejections.")
    failedRequests: list[FailedRequest]
    timings: dict[str, float] = Field(
        description="ms: queuedMs (waiting for a browser), loadMs (to the load event), totalMs."
    )


class AnalyzeRequest(BaseModel):
    oldFiles: list[ProjectFile] = Field(description="The project before the change (all files).")
    newFiles: list[ProjectFile] = Field(
        description="The project after the change (all files; missing ones count as deleted)."
    )
    policy: Literal["plan", "hmr"] | None = Field(
        default=None, description="Policy to decide with; the server's setting if left out."
    )


class AnalyzeResponse(BaseModel):
    success: Literal[True] = True
    strategy: str = Field(
        description="The most severe strategy of the files: none if nothing changed."
    )
    policy: str
    changes: list[FileChangeOut]


Scope = Literal["update", "status", "events"]  # kontext_preview.auth.SCOPES


def _every_scope() -> list[Scope]:
    return ["update", "status", "events"]


class BrowserTokenRequest(BaseModel):
    """What a browser token allows (POST /kontext/tokens, with the API key)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"sessionId": "<id>", "scopes": ["update", "status"]}]}
    )

    sessionId: str | None = Field(
        default=None,
        max_length=64,
        description="The one session it allows; absent: all of the user's.",
    )
    scopes: list[Scope] = Field(
        default_factory=_every_scope,
        min_length=1,
        description="The calls it allows: update (POST .../update), status (GET), events "
        "(the stream).",
    )
    ttlSeconds: int | None = Field(
        default=None,
        ge=1,
        description="Its lifetime in seconds; default KONTEXT_TOKEN_TTL_SECONDS, at most "
        "KONTEXT_TOKEN_MAX_TTL_SECONDS.",
    )


class BrowserTokenResponse(BaseModel):
    """A browser token: send it as `Authorization: Bearer <token>` from the browser."""

    success: Literal[True] = True
    token: str
    tokenType: Literal["Bearer"] = "Bearer"
    user: str
    sessionId: str | None
    scopes: list[str]
    expiresAt: int = Field(description="Unix seconds.")
