"""JS/TS/JSX analyzer: which tokens changed, and what each of them is.

tree-sitter parses the file (the TSX grammar for JS/JSX/TSX, TypeScript for .ts).
A top-down walk gives every token a *role*: ``style`` (className/style attributes,
clsx/cn arguments, styled-components and css`` templates, values of style-named
variables), ``content`` (JSX text, string literals, title/alt/placeholder/aria-*)
or ``logic`` (everything else), plus a short "where" for the reasons. Comments and
whitespace are not tokens. difflib's SequenceMatcher over the token texts finds
the changed tokens; their roles decide the class. Tokens, not lines: on
``<b className="a" onClick={save}>`` a changed className is style-only, a changed
handler is not.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from difflib import SequenceMatcher
from enum import StrEnum
from functools import cache

import tree_sitter_typescript
from tree_sitter import Language, Node, Parser

from kontext_preview.changes.model import ChangeClass
from kontext_preview.changes.window import changed_windows


class Role(StrEnum):
    STYLE = "style"
    CONTENT = "content"
    LOGIC = "logic"


STYLE_ATTRIBUTES = frozenset({"className", "class", "style", "sx", "css", "tw"})
CONTENT_ATTRIBUTES = frozenset({"title", "alt", "placeholder", "label"})
STYLE_FUNCTIONS = frozenset(
    {"clsx", "cn", "classnames", "classNames", "twMerge", "twJoin", "cva", "tv"}
)
STYLE_TAGS = re.compile(
    r"^(styled(\.\w+|\(.*\))(\.attrs\(.*\))?|css|keyframes|createGlobalStyle|"
    r"injectGlobal)$",
    re.DOTALL,
)
STYLE_NAME = re.compile(r"(classname|classnames|classes|class|styles|style|theme)$", re.IGNORECASE)
HOOK = re.compile(r"^use[A-Z]\w*$")
LITERALS = frozenset({"string_fragment", "number", "property_identifier", "escape_sequence"})
# Punctuation inside a style value (a new `ghost: "…",` entry) is part of that value.
PUNCTUATION = frozenset({":", ",", "{", "}", "[", "]", "`", '"', "'"})
MAX_REASONS = 5


@dataclass(frozen=True)
class Token:
    text: str
    role: Role
    where: str
    line: int


@dataclass(frozen=True)
class _Context:
    role: Role | None = None  # every token has this role
    literal_role: Role | None = None  # literals (strings, numbers, keys) have this role
    where: str = "code"


@cache
def _parser(typescript: bool) -> Parser:
    language = (
        tree_sitter_typescript.language_typescript()
        if typescript
        else tree_sitter_typescript.language_tsx()
    )
    return Parser(Language(language))


def classify(old: str, new: str, *, typescript: bool = False) -> tuple[ChangeClass, list[str]]:
    before, after = _changed_tokens(old.encode(), new.encode(), typescript)
    matcher = SequenceMatcher(
        None, [t.text for t in before], [t.text for t in after], autojunk=False
    )
    changed: list[Token] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "equal":
            changed += before[i1:i2] + after[j1:j2]
    if not changed:
        return ChangeClass.FORMATTING, ["only comments or whitespace changed"]
    roles = {t.role for t in changed}
    if Role.LOGIC in roles:
        return ChangeClass.COMPONENT_STRUCTURE, _reasons(changed, Role.LOGIC)
    if Role.CONTENT in roles:
        return ChangeClass.CONTENT_ONLY, _reasons(changed, Role.CONTENT, Role.STYLE)
    return ChangeClass.STYLE_ONLY, _reasons(changed, Role.STYLE)


def _changed_tokens(old: bytes, new: bytes, typescript: bool) -> tuple[list[Token], list[Token]]:
    """Tokens touching the changed window on each side. The new text is parsed
    incrementally from the old tree, edited by that window."""
    (start, old_end), (_, new_end) = changed_windows(old, new)
    parser = _parser(typescript)
    tree = parser.parse(old)
    before = list(_visit(tree.root_node, _Context(), (start, old_end)))
    tree.edit(
        start_byte=start,
        old_end_byte=old_end,
        new_end_byte=new_end,
        start_point=_point(old, start),
        old_end_point=_point(old, old_end),
        new_end_point=_point(new, new_end),
    )
    after = list(_visit(parser.parse(new, tree).root_node, _Context(), (start, new_end)))
    return before, after


def _point(data: bytes, offset: int) -> tuple[int, int]:
    row = data.count(b"\n", 0, offset)
    return row, offset - (data.rfind(b"\n", 0, offset) + 1)


def _reasons(changed: list[Token], *roles: Role) -> list[str]:
    seen: dict[tuple[str, int], None] = {}
    for token in changed:
        if token.role in roles:
            seen.setdefault((token.where, token.line), None)
    reasons = [f"line {line}: {where} changed" for where, line in seen]
    if len(reasons) > MAX_REASONS:
        reasons = [*reasons[:MAX_REASONS], f"and {len(reasons) - MAX_REASONS} more places"]
    return reasons


def _visit(node: Node, ctx: _Context, window: tuple[int, int]) -> Iterator[Token]:
    if node.end_byte < window[0] or node.start_byte > window[1]:
        return  # untouched by the change: its tokens are equal on both sides
    kind = node.type
    if kind in ("comment", "html_comment"):
        return
    if kind == "jsx_text":
        text = " ".join(_text(node).split())
        if text:
            yield Token(text, ctx.role or Role.CONTENT, f"text of {ctx.where}", _line(node))
        return
    if kind == "string":
        if node.parent is not None and node.parent.type == "export_statement":  # export … from "x"
            yield Token(_text(node)[1:-1], Role.LOGIC, "exports", _line(node))
            return
        where = ctx.where if ctx.where != "code" else "string literal"
        yield Token(_text(node)[1:-1], _literal(ctx, Role.CONTENT), where, _line(node))
        return
    if node.child_count == 0:
        literal = kind in LITERALS or (ctx.literal_role is Role.STYLE and kind in PUNCTUATION)
        role = _literal(ctx, Role.LOGIC) if literal else ctx.role or Role.LOGIC
        if kind == "string_fragment" and ctx.literal_role is None and ctx.role is None:
            role = Role.CONTENT
        yield Token(_text(node), role, ctx.where, _line(node))
        return
    ctx = _enter(node, ctx)
    for child in node.children:
        yield from _visit(child, ctx, window)


def _literal(ctx: _Context, default: Role) -> Role:
    return ctx.role or ctx.literal_role or default


def _enter(node: Node, ctx: _Context) -> _Context:
    """The context for a node's children."""
    kind = node.type
    if ctx.role is not None:
        return ctx
    if kind == "jsx_attribute":
        return _attribute_context(node, ctx)
    if kind in ("jsx_opening_element", "jsx_self_closing_element", "jsx_closing_element"):
        return _Context(ctx.role, ctx.literal_role, f"<{_tag(node)}>")
    if kind == "jsx_element":
        opening = node.child_by_field_name("open_tag")
        return _Context(ctx.role, ctx.literal_role, f"<{_tag(opening)}>" if opening else ctx.where)
    if kind == "import_statement" or (kind == "call_expression" and _is_import_call(node)):
        return _Context(Role.LOGIC, Role.LOGIC, "imports")
    if kind == "call_expression":
        return _call_context(node, ctx)
    if kind in ("variable_declarator", "pair", "public_field_definition", "assignment_expression"):
        name_node = (
            node.child_by_field_name("name")
            or node.child_by_field_name("key")
            or node.child_by_field_name("left")
        )
        name = _text(name_node).strip("\"'") if name_node else ""
        if STYLE_NAME.search(name):
            return _Context(None, Role.STYLE, f"style value {name}")
        if kind == "variable_declarator":
            return _Context(None, ctx.literal_role, f"{name}")
    if kind == "export_statement" and node.parent is not None and node.parent.type == "program":
        return _Context(None, ctx.literal_role, "exports")
    if kind in ("function_declaration", "class_declaration"):
        name_node = node.child_by_field_name("name")
        name = _text(name_node) if name_node else "function"
        what = "component" if name[:1].isupper() else "function"
        return _Context(None, ctx.literal_role, f"{what} {name}")
    return ctx


def _attribute_context(node: Node, ctx: _Context) -> _Context:
    name = _text(node.children[0]) if node.children else ""
    where = f"{name} on {ctx.where}"
    if name in STYLE_ATTRIBUTES:
        return _Context(Role.STYLE, Role.STYLE, where)
    if name in CONTENT_ATTRIBUTES or name.startswith("aria-"):
        return _Context(None, Role.CONTENT, where)
    if re.match(r"^on[A-Z]", name):
        return _Context(None, Role.LOGIC, f"{name} handler on {ctx.where}")
    return _Context(None, Role.LOGIC, where)


def _call_context(node: Node, ctx: _Context) -> _Context:
    function = node.child_by_field_name("function")
    name = _text(function) if function else ""
    arguments = node.child_by_field_name("arguments")
    if arguments is not None and arguments.type == "template_string" and STYLE_TAGS.match(name):
        return _Context(None, Role.STYLE, f"styles in {name}``")
    if name in STYLE_FUNCTIONS:
        return _Context(None, Role.STYLE, f"classes in {name}()")
    if HOOK.match(name.rsplit(".", 1)[-1]):
        return _Context(None, ctx.literal_role, f"hook {name}")
    return ctx


def _is_import_call(node: Node) -> bool:
    function = node.child_by_field_name("function")
    return function is not None and _text(function) in ("import", "require")


def _tag(node: Node) -> str:
    name = node.child_by_field_name("name")
    return _text(name) if name else ""


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", errors="replace")


def _line(node: Node) -> int:
    return node.start_point.row + 1


def static_imports(source: str, *, typescript: bool = False) -> list[str]:
    """The specifiers a module imports with a string literal: ``import … from "x"``,
    ``export … from "x"``, ``import("x")`` and ``require("x")``, in source order."""
    tree = _parser(typescript).parse(source.encode())
    found: list[str] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        source_node = None
        if node.type in ("import_statement", "export_statement"):
            source_node = node.child_by_field_name("source")
        elif node.type == "call_expression" and _is_import_call(node):
            arguments = node.child_by_field_name("arguments")
            first = arguments.named_children[:1] if arguments else []
            source_node = first[0] if first and first[0].type == "string" else None
        if source_node is not None and source_node.type == "string":
            found.append(_text(source_node)[1:-1])
        stack.extend(reversed(node.children))
    return found
