"""Policies: which strategy each change class gets.

``plan`` (the default) follows the Kontext plan's table: CSS is injected; style,
content and formatting changes are preview updates; component structure, new and
removed source files, build config, backend and dependencies need a full deployment.
``hmr`` trusts Vite's hot module replacement with everything the preview can show:
component structure, added/deleted files and build config become preview updates;
backend and dependency changes still need a deployment.
Overrides (``KONTEXT_CHANGE_POLICY_OVERRIDES``) change single classes on top.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from kontext_preview.changes.model import ChangeClass, Strategy
from kontext_preview.errors import KontextError

C, S = ChangeClass, Strategy

PLAN = MappingProxyType(
    {
        C.STYLESHEET: S.CSS_INJECTION,
        C.STYLE_ONLY: S.PREVIEW_UPDATE,
        C.CONTENT_ONLY: S.PREVIEW_UPDATE,
        C.FORMATTING: S.PREVIEW_UPDATE,
        C.STATIC_ASSET: S.PREVIEW_UPDATE,
        C.RENAMED: S.PREVIEW_UPDATE,
        C.COMPONENT_STRUCTURE: S.FULL_DEPLOY,
        C.ADDED: S.FULL_DEPLOY,
        C.DELETED: S.FULL_DEPLOY,
        C.BUILD_CONFIG: S.FULL_DEPLOY,
        C.BACKEND: S.FULL_DEPLOY,
        C.DEPENDENCIES: S.FULL_DEPLOY,
    }
)
HMR = MappingProxyType(
    {
        **PLAN,
        C.COMPONENT_STRUCTURE: S.PREVIEW_UPDATE,
        C.ADDED: S.PREVIEW_UPDATE,
        C.DELETED: S.PREVIEW_UPDATE,
        C.BUILD_CONFIG: S.PREVIEW_UPDATE,
    }
)
POLICIES = {"plan": PLAN, "hmr": HMR}


@dataclass(frozen=True)
class ChangePolicy:
    name: str
    strategies: Mapping[ChangeClass, Strategy]

    def strategy_for(self, change_class: ChangeClass) -> Strategy:
        return self.strategies[change_class]


def policy_named(name: str, overrides: Mapping[str, str] | None = None) -> ChangePolicy:
    if name not in POLICIES:
        raise KontextError(
            f"unknown change policy {name!r}; use one of {sorted(POLICIES)}",
            status_code=400,
            code="invalid_request",
        )
    strategies = dict(POLICIES[name])
    for cls, strategy in (overrides or {}).items():
        try:
            strategies[ChangeClass(cls)] = Strategy(strategy)
        except ValueError as exc:
            raise KontextError(
                f"invalid change policy override {cls!r}: {strategy!r} ({exc})",
                status_code=400,
                code="invalid_request",
            ) from exc
    return ChangePolicy(name, MappingProxyType(strategies))
