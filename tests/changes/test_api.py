"""/kontext/analyze and the analysis the update endpoint returns."""

import json
from typing import Any

import httpx
import pytest

from tests.conftest import create_session, replace_file, with_dependency
from tests.server import ApiServer, wait_for

HEADER = "src/frontend/src/Header.tsx"
APP = "src/frontend/src/App.tsx"
CSS = "src/frontend/src/index.css"
MOTOKO = "src/backend/main.mo"


def content(files: list[dict[str, Any]], name: str) -> str:
    return str(next(f["content"] for f in files if f["name"] == name))


def analyze(
    api: httpx.Client, old: list[dict[str, Any]], new: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    response = api.post("/kontext/analyze", json={"oldFiles": old, "newFiles": new, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in result["changes"]}


def test_a_multi_file_change_takes_its_most_severe_strategy(
    api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    new = replace_file(files, CSS, "#title {\n  color: rgb(0, 0, 255);\n}\n")
    new = replace_file(
        new,
        HEADER,
        content(files, HEADER).replace('id="title"', 'id="title" className="text-blue-600"'),
    )
    result = analyze(api, files, new)
    assert result["strategy"] == "preview-update" and result["policy"] == "plan"
    changes = by_name(result)
    assert changes[CSS]["class"] == "stylesheet" and changes[CSS]["strategy"] == "css-injection"
    assert changes[HEADER]["class"] == "style-only"
    assert changes[HEADER]["reasons"] == ["line 2: className on <h1> changed"]

    with_backend = replace_file(new, MOTOKO, content(files, MOTOKO).replace("Hello", "Hi"))
    result = analyze(api, files, with_backend)
    assert result["strategy"] == "full-deploy"
    assert by_name(result)[MOTOKO]["class"] == "backend"


def test_deletes_renames_and_additions(api: httpx.Client, files: list[dict[str, Any]]) -> None:
    header = next(f for f in files if f["name"] == HEADER)
    moved = [f for f in files if f["name"] != HEADER]
    moved += [
        {**header, "name": "src/frontend/src/components/Header.tsx"},
        {"name": "src/frontend/src/Footer.tsx", "content": "export default () => null;\n"},
    ]
    moved = [f for f in moved if f["name"] != "src/frontend/public/favicon.png"]
    changes = by_name(analyze(api, files, moved))
    renamed = changes["src/frontend/src/components/Header.tsx"]
    assert renamed["class"] == "renamed" and renamed["previousName"] == HEADER
    assert changes["src/frontend/src/Footer.tsx"]["class"] == "added"
    assert changes["src/frontend/public/favicon.png"]["class"] == "static-asset"
    assert HEADER not in changes


def test_the_hmr_policy_trusts_vite_with_structure(
    api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    new = replace_file(files, APP, content(files, APP).replace("c + 1", "c + 2"))
    assert analyze(api, files, new)["strategy"] == "full-deploy"
    hmr = analyze(api, files, new, policy="hmr")
    assert hmr["strategy"] == "preview-update" and hmr["policy"] == "hmr"
    assert by_name(hmr)[APP]["class"] == "component-structure"


def test_nothing_changed_is_strategy_none(api: httpx.Client, files: list[dict[str, Any]]) -> None:
    assert analyze(api, files, files) == {
        "success": True,
        "strategy": "none",
        "policy": "plan",
        "changes": [],
    }


def test_analyze_validates_like_a_session(api: httpx.Client, files: list[dict[str, Any]]) -> None:
    bad = [*files, {"name": "../../etc/passwd", "content": "x"}]
    response = api.post("/kontext/analyze", json={"oldFiles": files, "newFiles": bad})
    assert response.status_code == 400 and "'..'" in response.json()["error"]["message"]
    response = api.post(
        "/kontext/analyze", json={"oldFiles": files, "newFiles": files, "policy": "yolo"}
    )
    assert response.status_code == 422


@pytest.mark.vite
def test_updates_say_how_each_file_is_shown_and_queue_deployments(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    sid = create_session(api, files)["sessionId"]

    def update(name: str, text: str) -> dict[str, Any]:
        response = api.post(
            f"/kontext/preview/{sid}/update", json={"files": [{"name": name, "content": text}]}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    text = update(HEADER, content(files, HEADER).replace("Hello from Kontext", "Welcome"))
    assert text["strategy"] == "preview-update" and text["deploy"] is None
    assert text["changes"][0]["class"] == "content-only"
    assert text["changes"][0]["reasons"] == ["line 2: text of <h1> changed"]

    backend = update(MOTOKO, content(files, MOTOKO).replace("Hello", "Hi"))
    assert backend["strategy"] == "full-deploy" and backend["hmrTriggered"] is False
    assert backend["deploy"]["status"] in ("queued", "running")
    assert "src/backend/main.mo: backend" in backend["deploy"]["reasons"]

    # A second full-deploy change within the quiet period (KONTEXT_DEPLOY_QUIET_SECONDS): a
    # new deployment with the newer files supersedes the waiting one, and takes its reasons.
    package = next(
        f
        for f in with_dependency(files, "semver", "^7.0.0")
        if f["name"] == "src/frontend/package.json"
    )
    deps = update(package["name"], package["content"])
    assert deps["deploy"]["id"] != backend["deploy"]["id"]
    assert deps["changes"][0]["class"] == "dependencies"
    assert deps["changes"][0]["reasons"] == ["dependency semver added (^7.0.0)"]
    assert deps["restarted"] is True  # the preview installs and restarts meanwhile

    def deployments() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = api.get(f"/kontext/preview/{sid}").json()["deployments"]
        return found

    done = ("succeeded", "failed", "superseded")
    finished = wait_for(lambda: all(d["status"] in done for d in deployments()), timeout=120)
    assert finished, deployments()
    history = deployments()
    assert [d["id"] for d in history] == [backend["deploy"]["id"], deps["deploy"]["id"]]
    assert json.dumps(history[0]["reasons"]).count("main.mo") == 1
    assert [d["status"] for d in history] == ["superseded", "succeeded"], json.dumps(history)
    assert "src/backend/main.mo: backend" in history[-1]["reasons"], history[-1]
    assert history[-1]["url"] == f"http://deploy-{sid}.localhost:{server.port}/"
    api.delete(f"/kontext/preview/{sid}")
