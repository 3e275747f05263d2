"""POST /kontext/analyze: the change analysis of two file sets, without a session."""

from fastapi import APIRouter, Request

from kontext_preview.changes.projects import analyze_projects
from kontext_preview.changes.schemas import file_changes
from kontext_preview.config import Settings
from kontext_preview.errors import ErrorResponse
from kontext_preview.schemas import AnalyzeRequest, AnalyzeResponse
from kontext_preview.workspace.schemas import decode_files

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
    name = body.policy or settings.change_policy
    analysis = analyze_projects(
        settings, decode_files(body.oldFiles), decode_files(body.newFiles), name
    )
    return AnalyzeResponse(
        strategy=analysis.strategy.value, policy=name, changes=file_changes(analysis)
    )
