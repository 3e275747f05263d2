"""Test projects as the API receives them: ``files[{name, content, encoding}]``."""

import base64
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def project_files(name: str = "react-app") -> list[dict[str, Any]]:
    root = FIXTURES / name
    files = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        entry: dict[str, Any] = {"name": path.relative_to(root).as_posix()}
        try:
            entry["content"] = data.decode("utf-8")
        except UnicodeDecodeError:
            entry["content"] = base64.b64encode(data).decode()
            entry["encoding"] = "base64"
        files.append(entry)
    return files


def project_file(name: str, project: str = "react-app") -> str:
    return (FIXTURES / project / name).read_text()
