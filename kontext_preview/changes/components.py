"""Framework component files: Vue and Svelte single-file components (``.vue``, ``.svelte``)
and Astro components (``.astro``), compared block by block.

A component file is a ``<script>`` block (Astro: a ``---`` fenced frontmatter first, run on
the server for every render), ``<style>`` blocks and markup. What changed decides its class:

- whitespace or markup comments only: ``formatting``;
- ``<style>`` blocks only, or only the ``class``/``style`` attributes of the markup:
  ``style-only`` (the frameworks' Vite plugins update a component's styles without
  re-running it: ``@vitejs/plugin-vue``'s and ``vite-plugin-svelte``'s style-only HMR);
- only the markup's text, no ``{expression}`` in it: ``content-only``;
- anything else (the script or frontmatter, tags, other attributes, expressions):
  ``component-structure``, naming the block.
"""

import re

from kontext_preview.changes.model import ChangeClass

COMPONENT_EXTENSIONS = frozenset({".vue", ".svelte", ".astro"})

# Linear scans only (the file is untrusted input): the frontmatter is matched at the start
# once; blocks and comments are found by one pass over their marks.
_FRONTMATTER = re.compile(r"\A\s*---\r?\n.*?\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_MARK = re.compile(r"<!--|-->|<(/?)(script|style)\b[^<>]{0,2000}>", re.IGNORECASE)
_TAG = re.compile(r"<[^<>]*>")
# class="…", class={…}, class:name={…} (Svelte), :class="…" (Vue), style="…", style:x={…}
_STYLE_ATTRIBUTE = re.compile(
    r"""(?:\s|^)(?::|v-bind:)?(?:class|className|style)(?::[\w-]+)?"""
    r"""(?:\s*=\s*(?:"[^"]*"|'[^']*'|\{[^}]*\}|[^\s>]+))?""",
)


def classify(old: str, new: str) -> tuple[ChangeClass, list[str]]:
    if old.split() == new.split():
        return ChangeClass.FORMATTING, ["only whitespace changed"]
    before, after = _blocks(old), _blocks(new)
    changed = [name for name in before if _words(before[name]) != _words(after[name])]
    if "frontmatter" in changed:
        return ChangeClass.COMPONENT_STRUCTURE, [
            "the component's frontmatter changed (server code run on every render)"
        ]
    if "script" in changed:
        return ChangeClass.COMPONENT_STRUCTURE, ["the component's <script> changed"]
    if changed == ["style"]:
        return ChangeClass.STYLE_ONLY, ["only the component's <style> changed"]
    old_tags, new_tags = _TAG.findall(before["markup"]), _TAG.findall(after["markup"])
    if [_unstyled(t) for t in old_tags] != [_unstyled(t) for t in new_tags]:
        return ChangeClass.COMPONENT_STRUCTURE, ["the component's markup changed"]
    old_text, new_text = _TAG.split(before["markup"]), _TAG.split(after["markup"])
    edited = [(a, b) for a, b in zip(old_text, new_text, strict=True) if a.split() != b.split()]
    if any(brace in text for pair in edited for text in pair for brace in "{}"):
        return ChangeClass.COMPONENT_STRUCTURE, ["an expression in the markup changed"]
    if edited:
        return ChangeClass.CONTENT_ONLY, ["text in the component's markup changed"]
    reasons = ["class or style attributes in the markup changed"] if old_tags != new_tags else []
    if "style" in changed:
        reasons.append("the component's <style> changed")
    if reasons:
        return ChangeClass.STYLE_ONLY, reasons
    return ChangeClass.FORMATTING, ["only comments or whitespace changed"]


def _blocks(source: str) -> dict[str, str]:
    frontmatter = _FRONTMATTER.match(source)
    rest = source[frontmatter.end() :] if frontmatter else source
    found: dict[str, list[str]] = {"script": [], "style": []}
    markup: list[str] = []
    at = 0  # where the markup not yet taken starts
    block: tuple[str, int] | None = None  # an open <script>/<style>: its name and start
    comment = False
    for mark in _MARK.finditer(rest):
        text, closing, name = mark.group(0), mark.group(1), (mark.group(2) or "").lower()
        if comment:
            if text == "-->":
                comment, at = False, mark.end()
        elif block is not None:
            if closing and name == block[0]:
                found[name].append(rest[block[1] : mark.end()])
                block, at = None, mark.end()
        elif text == "<!--":
            markup.append(rest[at : mark.start()])
            comment = True
        elif name and not closing:
            markup.append(rest[at : mark.start()])
            block = (name, mark.start())
    if block is not None:
        found[block[0]].append(rest[block[1] :])
    elif not comment:
        markup.append(rest[at:])
    return {
        "frontmatter": frontmatter.group(0) if frontmatter else "",
        "script": "\n".join(found["script"]),
        "style": "\n".join(found["style"]),
        "markup": " ".join(markup),
    }


def _words(text: str) -> list[str]:
    return text.split()


def _unstyled(tag: str) -> str:
    return " ".join(_STYLE_ATTRIBUTE.sub(" ", tag).split())
