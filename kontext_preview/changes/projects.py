"""The change analysis of two whole projects, without a session (POST /kontext/analyze)."""

from kontext_preview.changes.analyzer import analyze
from kontext_preview.changes.model import ChangeAnalysis
from kontext_preview.changes.policy import policy_named
from kontext_preview.config import Settings
from kontext_preview.workspace.vfs import FileLimits, VirtualFileSystem


def analyze_projects(
    settings: Settings, old: dict[str, bytes], new: dict[str, bytes], policy: str
) -> ChangeAnalysis:
    """``old`` against ``new`` under the policy named ``policy``; both sets' names and
    sizes are checked first, under the same rules as a session's files."""
    old, new = _validated(settings, old), _validated(settings, new)
    chosen = policy_named(policy, settings.change_policy_overrides)
    return analyze(old, new, chosen, max_bytes=settings.analysis_max_bytes)


def _validated(settings: Settings, files: dict[str, bytes]) -> dict[str, bytes]:
    """Names and sizes under the same rules as a session's files (nothing touches the disk)."""
    return (
        VirtualFileSystem(settings.data_dir / "analyze", FileLimits.of(settings)).plan(files).files
    )
