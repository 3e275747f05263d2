"""A file's change as answers show it: an update's outcome (``contract.UpdateOutcome``)
and POST /kontext/analyze's."""

from pydantic import AliasChoices, BaseModel, Field

from kontext_preview.changes.model import ChangeAnalysis

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
