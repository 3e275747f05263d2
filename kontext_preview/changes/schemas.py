"""The analysis as the API shows it."""

from typing import Literal

from pydantic import AliasChoices, BaseModel, Field

from kontext_preview.changes.model import ChangeAnalysis
from kontext_preview.workspace.schemas import ProjectFile

# ruff: noqa: N815


class FileChangeOut(BaseModel):
    name: str
    previousName: str | None = Field(default=None, description="For renames: the old name.")
    changeClass: str = Field(
        serialization_alias="class",
        validation_alias=AliasChoices("changeClass", "class"),  # reads its own output too
        description="What kind of change.",
    )
    strategy: str = Field(description="css-injection | preview-update | full-deploy")
    reasons: list[str] = Field(description="Human-readable, for the chat UI.")


def file_changes(analysis: ChangeAnalysis) -> list[FileChangeOut]:
    return [
        FileChangeOut(
            name=f.name,
            previousName=f.previous_name,
            changeClass=f.change_class.value,
            strategy=f.strategy.value,
            reasons=list(f.reasons),
        )
        for f in analysis.files
    ]


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
