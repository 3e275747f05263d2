"""Files that feed the dev server's config: what a config file imports, transitively.

Vite bundles ``vite.config.*`` with every local file it imports and restarts the dev
server when any of them changes (its ``configFileDependencies``); PostCSS and Tailwind
load their config files' local imports the same way. A file reached so is build
configuration, whatever its own kind: a ``theme.js`` that ``tailwind.config.js`` imports
changes what every page's CSS is, not one module.
"""

from collections.abc import Mapping

from kontext_preview.changes.imports import is_code, local_imports
from kontext_preview.changes.kinds import FileKind, file_kind


def config_dependencies(files: Mapping[str, bytes]) -> dict[str, str]:
    """file name → the config file that (transitively) imports it, for every local file a
    build-config code file (``vite.config.ts``, ``tailwind.config.js``, …) imports."""
    roots = config_files(files)
    found: dict[str, str] = {}
    for root in sorted(roots):
        stack = [root]
        while stack:
            importer = stack.pop()
            for target, _query in local_imports(files, importer):
                if target not in found and target not in roots:
                    found[target] = root
                    stack.append(target)
    return found


def config_files(files: Mapping[str, bytes]) -> list[str]:
    """The build-config code files of a file set: those whose imports feed a config. They
    are all named ``<tool>.config.<ext>`` (kinds.CONFIG_PATTERN), which a substring test
    finds before file_kind looks closer (this runs over every file of each update)."""
    return [
        n for n in files if ".config." in n and file_kind(n) is FileKind.BUILD_CONFIG and is_code(n)
    ]
