"""package.json analyzer: dependencies and scripts vs. everything else."""

import json
from typing import Any

from kontext_preview.changes.model import ChangeClass

DEPENDENCY_SECTIONS = (
    "dependencies",
    "devDependencies",
    "peerDependencies",
    "optionalDependencies",
    "scripts",
)


def classify(old: str, new: str) -> tuple[ChangeClass, list[str]]:
    try:
        before, after = json.loads(old), json.loads(new)
    except ValueError:
        return ChangeClass.DEPENDENCIES, ["package.json is not valid JSON: treated as dependencies"]
    if not isinstance(before, dict) or not isinstance(after, dict):
        return ChangeClass.DEPENDENCIES, ["package.json is not a JSON object"]
    if before == after:
        return ChangeClass.FORMATTING, ["only formatting changed"]
    reasons: list[str] = []
    for section in DEPENDENCY_SECTIONS:
        reasons += _section_reasons(section, before.get(section) or {}, after.get(section) or {})
    if reasons:
        return ChangeClass.DEPENDENCIES, reasons
    fields = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return ChangeClass.BUILD_CONFIG, [f"package.json field {k!r} changed" for k in fields]


def _section_reasons(section: str, before: Any, after: Any) -> list[str]:
    if not isinstance(before, dict) or not isinstance(after, dict):
        return [f"{section} changed"] if before != after else []
    what = "script" if section == "scripts" else section.removesuffix("ies") + "y"
    reasons = [f"{what} {k} added ({after[k]})" for k in after if k not in before]
    reasons += [f"{what} {k} removed" for k in before if k not in after]
    reasons += [
        f"{what} {k} changed ({before[k]} → {after[k]})"
        for k in after
        if k in before and before[k] != after[k]
    ]
    return reasons
