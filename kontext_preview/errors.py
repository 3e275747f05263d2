"""One error hierarchy: every failure a caller can act on is a KontextError.

The API turns these into ``{"success": false, "error": {"code", "message"}}`` with
``status_code``; npm, Vite and OS failures are translated into them at the edge
with a message a person (or the AI in the chat) can act on.
"""

from typing import Literal

from pydantic import BaseModel


class KontextError(Exception):
    status_code = 500
    code = "internal_error"
    headers: dict[str, str] | None = None

    def __init__(self, message: str, *, status_code: int | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        if code is not None:
            self.code = code


class InvalidRequest(KontextError):
    status_code = 400
    code = "invalid_request"


class InvalidFileName(InvalidRequest):
    code = "invalid_file_name"


class LimitExceeded(KontextError):
    status_code = 413
    code = "limit_exceeded"


class TooManySessions(KontextError):
    status_code = 429
    code = "too_many_sessions"


class UnsupportedProject(KontextError):
    status_code = 422
    code = "unsupported_project"


class SessionNotFound(KontextError):
    status_code = 404
    code = "session_not_found"

    def __init__(self, session_id: str):
        super().__init__(
            f"no preview session '{session_id}': it was deleted, never existed or belongs to "
            "someone else; create one with POST /kontext/preview"
        )


class SandboxError(KontextError):
    """The sandbox could not install, start or talk to the dev server."""

    status_code = 502
    code = "sandbox_error"


class DependencyInstallFailed(SandboxError):
    code = "dependency_install_failed"

    def __init__(self, message: str, npm_code: str | None = None):
        super().__init__(message)
        self.npm_code = npm_code  # npm's own error code (ERESOLVE, E404, ETARGET...), if it said


class PeerConflict(DependencyInstallFailed):
    """npm refused a peer-dependency conflict (ERESOLVE); ``conflict`` says which."""

    def __init__(self, message: str, conflict: str):
        super().__init__(message, "ERESOLVE")
        self.conflict = conflict


class InspectUnavailable(KontextError):
    """No Chromium to look at previews with (``KONTEXT_INSPECT_CHROMIUM``)."""

    status_code = 503
    code = "inspect_unavailable"


class InspectBusy(KontextError):
    """As many looks wait as ``KONTEXT_INSPECT_QUEUE`` allows; retry."""

    status_code = 429
    code = "inspect_busy"
    headers = {"retry-after": "2"}


class StoreUnavailable(KontextError):
    """Distributed mode's Redis does not answer; the caller may retry (idempotent)."""

    status_code = 503
    code = "store_unavailable"


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    """The body of every error answer of the API: ``{"success": false, "error": {"code",
    "message"}}``."""

    success: Literal[False] = False
    error: ErrorDetail
