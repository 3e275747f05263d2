"""Change detection: classify each file of an AI edit and pick the cheapest correct strategy.

``analyze(old_files, new_files)`` compares two file sets. Each changed file gets a
:class:`ChangeClass` with human-readable reasons; a :class:`ChangePolicy` maps classes
to strategies (css-injection < preview-update < full-deploy) and the change set takes
the most severe of its files.
"""

from kontext_preview.changes.analyzer import analyze
from kontext_preview.changes.model import ChangeAnalysis, ChangeClass, FileAnalysis, Strategy
from kontext_preview.changes.policy import ChangePolicy, policy_named

__all__ = [
    "ChangeAnalysis",
    "ChangeClass",
    "ChangePolicy",
    "FileAnalysis",
    "Strategy",
    "analyze",
    "policy_named",
]
