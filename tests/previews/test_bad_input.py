"""Bad input gets a 4xx the AI can act on, in the contract's error shape, and changes nothing."""

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import create_session, replace_file
from tests.server import ApiServer

pytestmark = pytest.mark.vite


def error_of(response: httpx.Response, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert set(body["error"]) == {"code", "message"}
    error: dict[str, str] = body["error"]
    return error


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = ApiServer.start(
        tmp_path_factory.mktemp("small"),
        max_files=12,
        max_file_bytes=2000,
        max_session_bytes=5000,
        max_request_bytes=20000,
        max_sessions=2,
    )
    yield server
    server.stop()


def test_invalid_json_is_a_400(api: httpx.Client) -> None:
    response = api.post(
        "/kontext/preview", content=b'{"files": [', headers={"content-type": "application/json"}
    )
    assert error_of(response, 400)["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"files": "index.html"}, "files"),
        ({"files": []}, "files"),
        ({"files": [{"name": "index.html"}]}, "files.0.content"),
        ({"files": [{"name": 3, "content": "x"}]}, "files.0.name"),
        ({"files": [{"name": "a", "content": "x", "encoding": "rot13"}]}, "files.0.encoding"),
        ({"files": [{"name": "index.html", "content": ""}], "packageJson": "react"}, "packageJson"),
    ],
)
def test_wrong_types_are_a_422_naming_the_field(
    api: httpx.Client, body: dict[str, Any], where: str
) -> None:
    error = error_of(api.post("/kontext/preview", json=body), 422)
    assert error["code"] == "invalid_request"
    assert error["message"].startswith(where)


@pytest.mark.parametrize(
    "name",
    [
        "/etc/passwd",
        "../escape.js",
        "src/../../escape.js",
        "src\\App.tsx",
        "src/A\x00pp.tsx",
        "src/\x1b[31m.tsx",
        "node_modules/react/index.js",
        ".git/hooks/pre-commit",
    ],
)
def test_dangerous_file_names_are_refused_by_name(
    api: httpx.Client, files: list[dict[str, Any]], name: str
) -> None:
    error = error_of(
        api.post("/kontext/preview", json={"files": [*files, {"name": name, "content": "x"}]}), 400
    )
    assert error["code"] == "invalid_file_name"
    assert repr(name[:120]) in error["message"] or name in error["message"]


def test_invalid_base64_names_the_file(api: httpx.Client, files: list[dict[str, Any]]) -> None:
    bad = {"name": "src/frontend/public/logo.png", "content": "not base64!", "encoding": "base64"}
    error = error_of(api.post("/kontext/preview", json={"files": [*files, bad]}), 400)
    assert "logo.png" in error["message"] and "base64" in error["message"]


def test_a_project_that_is_not_a_vite_app_is_a_422(api: httpx.Client) -> None:
    files = [{"name": "app.vue", "content": ""}, {"name": "nuxt.config.ts", "content": ""}]
    error = error_of(api.post("/kontext/preview", json={"files": files}), 422)
    assert error["code"] == "unsupported_project" and "Nuxt" in error["message"]
    files = [{"name": "main.py", "content": "print('hi')"}]
    assert (
        "index.html"
        in error_of(api.post("/kontext/preview", json={"files": files}), 422)["message"]
    )


def test_unknown_sessions_are_404(api: httpx.Client) -> None:
    unknown = "a" * 32
    for response in (
        api.get(f"/kontext/preview/{unknown}"),
        api.post(f"/kontext/preview/{unknown}/update", json={"files": []}),
        api.delete(f"/kontext/preview/{unknown}"),
        api.get("/kontext/preview/NOT..VALID"),
    ):
        assert error_of(response, 404)["code"] == "session_not_found"
    create = api.post(
        "/kontext/preview",
        json={"files": [{"name": "index.html", "content": ""}], "sessionId": unknown},
    )
    assert error_of(create, 404)["code"] == "session_not_found"


def test_a_rejected_update_changes_nothing(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    sid = create_session(api, files)["sessionId"]
    header = "src/frontend/src/Header.tsx"
    before = server.preview_get(sid, "/src/Header.tsx").text
    on_disk = server.data_dir / "sessions" / sid / "workspace" / header
    disk_before = on_disk.read_text()
    update = {
        "files": [
            {"name": header, "content": "export default () => <h1>changed</h1>;"},
            {"name": "src/frontend/../../../outside.js", "content": "x"},
        ]
    }
    error = error_of(api.post(f"/kontext/preview/{sid}/update", json=update), 400)
    assert "outside.js" in error["message"]
    delete_missing = {"deletedFiles": ["src/frontend/src/Nope.tsx"], "files": update["files"][:1]}
    error_of(api.post(f"/kontext/preview/{sid}/update", json=delete_missing), 400)
    assert on_disk.read_text() == disk_before
    assert server.preview_get(sid, "/src/Header.tsx").text == before
    assert api.get(f"/kontext/preview/{sid}").json()["files"] == len(files)
    api.delete(f"/kontext/preview/{sid}")


def test_a_leading_dot_slash_names_the_same_file(
    server: ApiServer, api: httpx.Client, files: list[dict[str, Any]]
) -> None:
    sid = create_session(api, files)["sessionId"]
    update = {
        "files": [
            {
                "name": "./src/frontend/src/Header.tsx",
                "content": "export default () => <h1>dot</h1>;\n",
            }
        ]
    }
    body = api.post(f"/kontext/preview/{sid}/update", json=update).json()
    assert body["updated"] == ["src/frontend/src/Header.tsx"]
    api.delete(f"/kontext/preview/{sid}")


class TestLimits:
    def test_a_file_over_the_size_limit(
        self, small_server: ApiServer, files: list[dict[str, Any]]
    ) -> None:
        big = replace_file(files, "src/frontend/src/Big.tsx", "x" * 2001)
        with small_server.client() as api:
            error = error_of(api.post("/kontext/preview", json={"files": big}), 413)
        assert "Big.tsx" in error["message"] and "2000" in error["message"]

    def test_a_binary_file_is_measured_after_decoding(
        self, small_server: ApiServer, files: list[dict[str, Any]]
    ) -> None:
        image = {
            "name": "src/frontend/public/big.png",
            "encoding": "base64",
            "content": base64.b64encode(b"\x89" * 2001).decode(),
        }
        with small_server.client() as api:
            error = error_of(api.post("/kontext/preview", json={"files": [*files, image]}), 413)
        assert "big.png" in error["message"]

    def test_too_many_files(self, small_server: ApiServer, files: list[dict[str, Any]]) -> None:
        many = files + [{"name": f"src/frontend/src/m{i}.ts", "content": ""} for i in range(5)]
        with small_server.client() as api:
            error = error_of(api.post("/kontext/preview", json={"files": many}), 413)
        assert "15 files" in error["message"] and "12" in error["message"]

    def test_a_project_over_the_total_size(
        self, small_server: ApiServer, files: list[dict[str, Any]]
    ) -> None:
        heavy = files + [
            {"name": f"src/frontend/src/h{i}.ts", "content": "y" * 1990} for i in range(2)
        ]
        with small_server.client() as api:
            error = error_of(api.post("/kontext/preview", json={"files": heavy}), 413)
        assert "would hold" in error["message"] and "5000" in error["message"]

    def test_a_payload_over_the_request_limit(self, small_server: ApiServer) -> None:
        body = b'{"files": [{"name": "index.html", "content": "' + b"z" * 30000 + b'"}]}'
        with small_server.client() as api:
            declared = api.post(
                "/kontext/preview", content=body, headers={"content-type": "application/json"}
            )
            streamed = api.post(
                "/kontext/preview",
                content=iter([body[:15000], body[15000:]]),
                headers={"content-type": "application/json"},
            )
        assert "20000" in error_of(declared, 413)["message"]
        assert "20000" in error_of(streamed, 413)["message"]

    def test_too_many_sessions(self, small_server: ApiServer, files: list[dict[str, Any]]) -> None:
        with small_server.client() as api:
            ids = [create_session(api, files)["sessionId"] for _ in range(2)]
            error = error_of(api.post("/kontext/preview", json={"files": files}), 429)
            assert "limit" in error["message"]
            for sid in ids:
                api.delete(f"/kontext/preview/{sid}")
            room_again = create_session(api, files)  # waits: nothing is left starting
            api.delete(f"/kontext/preview/{room_again['sessionId']}")

    def test_nothing_of_a_rejected_create_reaches_the_disk(self, small_server: ApiServer) -> None:
        sessions = small_server.data_dir / "sessions"
        before = set(sessions.iterdir()) if sessions.exists() else set()
        with small_server.client() as api:
            api.post("/kontext/preview", json={"files": [{"name": "../x", "content": ""}]})
        after = set(sessions.iterdir()) if sessions.exists() else set()
        assert after == before


def test_openapi_docs_are_served(api: httpx.Client) -> None:
    schema = api.get("/openapi.json").json()
    assert "/kontext/preview" in schema["paths"]
    assert "/kontext/preview/{session_id}/update" in schema["paths"]
    assert api.get("/docs").status_code == 200


def test_session_ids_are_dns_safe_and_unguessable() -> None:
    from kontext_preview.contract import new_session_id

    ids = {new_session_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 32 and i.isalnum() and i == i.lower() for i in ids)
    assert len(set("".join(ids))) == 32  # base32: 5 bits a character, 160 bits an id


def test_cors_is_granted_only_to_configured_origins(tmp_path: Any) -> None:
    server = ApiServer.start(tmp_path, cors_origins='["http://chat.localhost:5173"]')
    try:
        with server.client() as api:
            for origin, allowed in (
                ("http://chat.localhost:5173", True),
                ("http://preview-x.localhost:8000", False),
            ):
                preflight = api.options(
                    "/kontext/preview",
                    headers={
                        "origin": origin,
                        "access-control-request-method": "POST",
                        "access-control-request-headers": "content-type",
                    },
                )
                granted = preflight.headers.get("access-control-allow-origin")
                assert (granted == origin) is allowed, preflight.headers
    finally:
        server.stop()
