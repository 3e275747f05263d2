"""Stylesheet analyzer: tokens without comments and whitespace (tinycss2), rules for the reasons."""

import re

import tinycss2

from kontext_preview.changes.model import ChangeClass

_CLASS_SELECTOR = re.compile(r"\.(-?[_a-zA-Z][\w-]*)")
MAX_REASONS = 5


def classify(old: str, new: str, *, css_module: bool = False) -> tuple[ChangeClass, list[str]]:
    if _tokens(old) == _tokens(new):
        return ChangeClass.FORMATTING, ["only comments or whitespace changed"]
    if css_module:
        before, after = _class_names(old), _class_names(new)
        if before != after:
            added, removed = sorted(after - before), sorted(before - after)
            reasons = [f"CSS module class {n} added" for n in added]
            reasons += [f"CSS module class {n} removed" for n in removed]
            return ChangeClass.STYLE_ONLY, [*reasons, "the component's class-name map changes"]
    return ChangeClass.STYLESHEET, _rule_reasons(old, new)


def _tokens(css: str) -> list[str]:
    values = tinycss2.parse_component_value_list(css, skip_comments=True)
    return [_serialize(v) for v in values if v.type != "whitespace"]


def _serialize(value: object) -> str:
    # Blocks and functions: compare their contents without whitespace too.
    content = getattr(value, "content", None) or getattr(value, "arguments", None)
    if isinstance(content, list):
        head = getattr(value, "name", None) or getattr(value, "type", "")
        inner = " ".join(
            _serialize(v)
            for v in content
            if getattr(v, "type", "") != "whitespace" and getattr(v, "type", "") != "comment"
        )
        return f"{head}({inner})"
    return str(tinycss2.serialize([value]))


def _rules(css: str) -> dict[str, str]:
    rules: dict[str, str] = {}
    for rule in tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True):
        if rule.type == "qualified-rule":
            key = " ".join(tinycss2.serialize(rule.prelude).split())
        elif rule.type == "at-rule":
            key = f"@{rule.at_keyword} " + " ".join(tinycss2.serialize(rule.prelude).split())
        else:
            continue
        body = rule.content or []
        rules[key.strip()] = " ".join(_serialize(v) for v in body if v.type != "whitespace")
    return rules


def _rule_reasons(old: str, new: str) -> list[str]:
    before, after = _rules(old), _rules(new)
    reasons = [f"rule {k} added" for k in after if k not in before]
    reasons += [f"rule {k} removed" for k in before if k not in after]
    reasons += [f"rule {k} changed" for k in after if k in before and before[k] != after[k]]
    if not reasons:
        reasons = ["rules reordered or changed"]
    if len(reasons) > MAX_REASONS:
        reasons = [*reasons[:MAX_REASONS], f"and {len(reasons) - MAX_REASONS} more rules"]
    return reasons


def _class_names(css: str) -> set[str]:
    names: set[str] = set()
    for rule in tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True):
        if rule.type == "qualified-rule":
            names.update(_CLASS_SELECTOR.findall(tinycss2.serialize(rule.prelude)))
        elif rule.type == "at-rule" and rule.content:
            names |= _class_names(tinycss2.serialize(rule.content))
    return names
