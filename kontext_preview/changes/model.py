"""What an analysis says: a class and reasons per file, a strategy per file and per change set."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class ChangeClass(StrEnum):
    STYLESHEET = "stylesheet"  # .css/.scss/.less/... rules and declarations
    STYLE_ONLY = "style-only"  # className, style, CSS-in-JS, Tailwind class strings in code
    CONTENT_ONLY = "content-only"  # JSX text, string literals, content attributes, data JSON
    FORMATTING = "formatting"  # comments and whitespace only
    COMPONENT_STRUCTURE = "component-structure"  # logic, hooks, props, imports, exports, markup
    BACKEND = "backend"  # Motoko and other server code, canister config
    DEPENDENCIES = "dependencies"  # package.json dependencies/scripts, lock files
    BUILD_CONFIG = "build-config"  # vite/tsconfig/tailwind/postcss config, index.html, .env
    STATIC_ASSET = "static-asset"  # images, fonts, media, docs, other binary files
    ADDED = "added"  # a new source file
    DELETED = "deleted"  # a removed source file
    RENAMED = "renamed"  # a file moved with (nearly) the same content


class Strategy(StrEnum):
    NONE = "none"  # nothing changed
    CSS_INJECTION = "css-injection"  # new CSS pushed straight into the page
    PREVIEW_UPDATE = "preview-update"  # files written, Vite HMR
    FULL_DEPLOY = "full-deploy"  # a deployment is needed (the preview still shows what it can)

    @property
    def severity(self) -> int:
        return _BY_SEVERITY.index(self)


_BY_SEVERITY = (
    Strategy.NONE,
    Strategy.CSS_INJECTION,
    Strategy.PREVIEW_UPDATE,
    Strategy.FULL_DEPLOY,
)


def most_severe(strategies: Iterable[Strategy]) -> Strategy:
    """The strategy of a change set: the most severe of its parts (none if empty)."""
    return max(strategies, key=lambda s: s.severity, default=Strategy.NONE)


@dataclass(frozen=True)
class FileAnalysis:
    name: str
    change_class: ChangeClass
    strategy: Strategy
    reasons: tuple[str, ...]
    previous_name: str | None = None  # for renames


@dataclass(frozen=True)
class ChangeAnalysis:
    files: tuple[FileAnalysis, ...] = field(default_factory=tuple)

    @property
    def strategy(self) -> Strategy:
        return most_severe(f.strategy for f in self.files)

    @property
    def deciding(self) -> tuple[FileAnalysis, ...]:
        """The files whose strategy is the change set's."""
        strategy = self.strategy
        return tuple(f for f in self.files if f.strategy is strategy)
