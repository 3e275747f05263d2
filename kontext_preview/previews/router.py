"""/kontext/preview endpoints: validate, call the service, return the contract's shapes."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from kontext_preview.changes.schemas import file_changes
from kontext_preview.config import Settings
from kontext_preview.deploy.base import Deployment
from kontext_preview.previews.schemas import (
    CreatePreviewRequest,
    DeletePreviewResponse,
    DeploymentOut,
    ErrorResponse,
    PreviewSessionResponse,
    PreviewStatusResponse,
    UpdatePreviewRequest,
    UpdatePreviewResponse,
)
from kontext_preview.previews.service import PreviewService
from kontext_preview.previews.session import PreviewSession
from kontext_preview.workspace.schemas import decode_files

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 404, 413, 422, 429, 502)
}
router = APIRouter(prefix="/kontext/preview", tags=["previews"], responses=ERRORS)


def get_service(request: Request) -> PreviewService:
    service: PreviewService = request.app.state.previews
    return service


Service = Annotated[PreviewService, Depends(get_service)]
WaitParam = Annotated[bool, Query(description="Answer only once the session is active or failed.")]


def deployment_out(deployment: Deployment) -> DeploymentOut:
    return DeploymentOut(
        id=deployment.id,
        status=deployment.status,
        queuedAt=deployment.queued_at,
        reasons=deployment.reasons,
    )


def session_fields(settings: Settings, session: PreviewSession) -> dict[str, Any]:
    return {
        "sessionId": session.id,
        "previewUrl": settings.preview_url(session.id),
        "wsUrl": settings.ws_url(session.id),
        "expiresAt": session.expires_at,
        "status": session.status.value,
        "error": session.error,
        "framework": session.layout.framework,
        "viteRoot": session.layout.vite_root,
        "projectType": session.project_type,
    }


async def _settle(service: Service, session: PreviewSession, wait: bool) -> None:
    if wait:
        timeout = (
            service.settings.install_timeout_seconds + service.settings.startup_timeout_seconds
        )
        await service.wait_settled(session, timeout)


@router.post("", response_model=PreviewSessionResponse, summary="Create a preview session")
async def create_preview(
    body: CreatePreviewRequest, service: Service, wait: WaitParam = False
) -> PreviewSessionResponse:
    session = await service.create(
        decode_files(body.files), body.packageJson, body.projectType, body.sessionId
    )
    await _settle(service, session, wait)
    return PreviewSessionResponse(**session_fields(service.settings, session))


@router.post(
    "/{session_id}/update",
    response_model=UpdatePreviewResponse,
    response_model_by_alias=True,
    summary="Push changed files",
)
async def update_preview(
    session_id: str, body: UpdatePreviewRequest, service: Service, wait: WaitParam = False
) -> UpdatePreviewResponse:
    result = await service.update(session_id, decode_files(body.files), body.deletedFiles)
    session = service.get(session_id)
    await _settle(service, session, wait)
    return UpdatePreviewResponse(
        updated=result.updated,
        deleted=result.deleted,
        unchanged=result.unchanged,
        hmrTriggered=result.hmr_triggered,
        restarted=result.restarted,
        status=session.status.value,
        strategy=result.analysis.strategy.value,
        changes=file_changes(result.analysis),
        batchSize=result.batch_size,
        deploy=deployment_out(result.deployment) if result.deployment else None,
    )


@router.get("/{session_id}", response_model=PreviewStatusResponse, summary="Session status")
async def get_preview(session_id: str, service: Service) -> PreviewStatusResponse:
    session = service.get(session_id)
    session.touch()
    return PreviewStatusResponse(
        **session_fields(service.settings, session),
        files=len(session.vfs.files),
        logs=list(session.logs),
        deployments=[deployment_out(d) for d in service.deployer.deployments(session.id)],
    )


@router.delete("/{session_id}", response_model=DeletePreviewResponse, summary="End a session")
async def delete_preview(session_id: str, service: Service) -> DeletePreviewResponse:
    await service.delete(session_id)
    return DeletePreviewResponse()
