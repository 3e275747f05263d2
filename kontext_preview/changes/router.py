"""POST /kontext/analyze: the change analysis of two file sets, without a session."""

from fastapi import APIRouter, Request

from kontext_preview.changes.analyzer import analyze
from kontext_preview.changes.policy import policy_named
from kontext_preview.changes.schemas import AnalyzeRequest, AnalyzeResponse, file_changes
from kontext_preview.config import Settings
from kontext_preview.errors import ErrorResponse
from kontext_preview.workspace.schemas import decode_files
from kontext_preview.workspace.vfs import FileLimits, VirtualFileSystem

router = APIRouter(
    tags=["changes"], responses={c: {"model": ErrorResponse} for c in (400, 401, 413, 422)}
)


@router.post(
    "/kontext/analyze",
    response_model=AnalyzeResponse,
    response_model_by_alias=True,
    summary="Classify a change set",
)
async def analyze_changes(body: AnalyzeRequest, request: Request) -> AnalyzeResponse:
    settings: Settings = request.app.state.settings
    old = _validated(settings, decode_files(body.oldFiles))
    new = _validated(settings, decode_files(body.newFiles))
    name = body.policy or settings.change_policy
    policy = policy_named(name, settings.change_policy_overrides)
    analysis = analyze(old, new, policy, max_bytes=settings.analysis_max_bytes)
    return AnalyzeResponse(
        strategy=analysis.strategy.value, policy=name, changes=file_changes(analysis)
    )


def _validated(settings: Settings, files: dict[str, bytes]) -> dict[str, bytes]:
    """Names and sizes under the same rules as a session's files (nothing touches the disk)."""
    return (
        VirtualFileSystem(settings.data_dir / "analyze", FileLimits.of(settings)).plan(files).files
    )
