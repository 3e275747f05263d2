"""Where a session's state is kept beyond the process that runs it.

The embedded default keeps nothing elsewhere (:class:`NullStore`). In distributed
mode each worker node mirrors its sessions into Redis (status, layout, logs) so
that the API, other workers and beat see them; the files themselves are
committed there by the worker together with the updates that changed them (see
``kontext_preview.distributed``).
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kontext_preview.previews.session import PreviewSession


class SessionStore:
    """Hooks the service calls; they return at once (writes happen in the background,
    in order)."""

    def saved(self, session: "PreviewSession") -> None:
        """The session's status, error, sandbox or layout changed."""

    def logged(self, session: "PreviewSession", line: str) -> None:
        """The session logged a line (install and dev-server output)."""

    async def removed(self, session_id: str, owner: str, reason: str) -> None:
        """The session ended (``reason``: session.deleted or session.expired): drop
        everything kept about it but a note of how it ended."""


class NullStore(SessionStore):
    pass
