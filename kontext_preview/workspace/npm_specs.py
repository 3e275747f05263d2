"""npm's own judgement of a package.json's dependency specs, before npm ever sees them.

``sandbox-images/agent/specs.mjs`` parses each spec with npm-package-arg, the parser npm
itself uses (pinned in ``sandbox-images/agent/package.json``): every form npm installs
from the registry passes (exact versions, ``^``/``~``, x-ranges, ``||``, hyphen ranges,
comparators, tags, ``npm:`` aliases of those), as do ``file:`` and directory specs that
stay inside the project; git, URLs, remote tarballs and protocols npm does not know
(``workspace:``, ``link:``) are refused with npm's reason. One Node process answers for a
whole package.json (about 60 ms); answers are kept by content, as the same package.json
comes back with most updates.
"""

import json
import subprocess
import threading
from collections import OrderedDict
from functools import cache
from pathlib import Path
from typing import Any

from kontext_preview.config import Settings
from kontext_preview.errors import KontextError

SECTIONS = ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies")
ANSWERS_KEPT = 256
CHECK_TIMEOUT_SECONDS = 20.0
_ANSWERS: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
_ANSWERS_LOCK = threading.Lock()  # callers may check from threads (the service does)


@cache
def _tools() -> tuple[str, Path]:
    settings = Settings()
    return settings.node_binary, settings.agent_dir / "specs.mjs"


def refused_specs(sections: dict[str, dict[str, str]], package_dir: str) -> list[dict[str, Any]]:
    """The dependencies npm could not install safely from the registry, each
    ``{"section", "name", "spec", "type", "reason"}`` (``type``: npm-package-arg's, such as
    ``git``, ``remote``, ``directory``; ``unsupported``: true where npm could install it but
    previews cannot run it, a Vite before 4). ``sections``: section name → {name: spec}, specs
    already checked to be strings; ``package_dir``: the package.json's folder relative to
    the project ("" for its root). Raises KontextError (500) if Node cannot run the check."""
    request = json.dumps({"packages": [{"dir": package_dir, "sections": sections}]}, sort_keys=True)
    with _ANSWERS_LOCK:
        if (known := _ANSWERS.get(request)) is not None:
            _ANSWERS.move_to_end(request)
            return known
    node, script = _tools()
    try:
        done = subprocess.run(
            [node, str(script), request],
            capture_output=True,
            timeout=CHECK_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KontextError(f"could not check the project's dependencies: {exc}") from None
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace")[-400:]
        raise KontextError(f"could not check the project's dependencies: {tail}")
    refused: list[dict[str, Any]] = json.loads(done.stdout)["refused"]
    with _ANSWERS_LOCK:
        _ANSWERS[request] = refused
        while len(_ANSWERS) > ANSWERS_KEPT:
            _ANSWERS.popitem(last=False)
    return refused
