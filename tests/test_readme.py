"""The README stays true: every setting is documented and the quick-start example works."""

import json
import re
from pathlib import Path

import httpx
import pytest

from kontext_preview.config import Settings
from tests.server import ApiServer

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    documented = set(re.findall(r"^\| `KONTEXT_([A-Z_]+)` \|", README, re.MULTILINE))
    settings = {name.upper() for name in Settings.model_fields}
    assert settings - documented == set(), "settings missing from the README"
    assert documented - settings == set(), "README documents settings that do not exist"


def test_the_quick_start_has_exactly_two_commands() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("##", 1)[0]
    first_block = quick_start.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make serve", "make test"]


@pytest.mark.vite
def test_the_readme_example_project_previews(server: ApiServer, api: httpx.Client) -> None:
    body = json.loads(re.search(r"-d '(\{.*?\})'", README, re.DOTALL).group(1))  # type: ignore[union-attr]
    response = api.post("/kontext/preview", params={"wait": "true"}, json=body).json()
    assert response["status"] == "active" and response["framework"] == "vite-vanilla"
    page = server.preview_get(response["sessionId"], "/main.js")
    assert "Hello" in page.text
    api.delete(f"/kontext/preview/{response['sessionId']}")
