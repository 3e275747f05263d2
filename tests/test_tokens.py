"""Browser tokens (issue 20): a chat's backend trades its API key for a short-lived token
the chat's page sends instead; accepted within its scope and session until it expires,
refused once the secret that signed it or the key that asked for it is gone."""

import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from kontext_preview.auth import (
    TOKEN_AUDIENCE,
    TOKEN_ISSUER,
    ApiKeys,
    BrowserTokens,
    Principal,
    Unauthorized,
    key_id,
)
from kontext_preview.client import KontextClient
from kontext_preview.config import Settings
from tests.conftest import create_session
from tests.project import project_files
from tests.server import ALICE_KEY, BOB_KEY, TEST_KEYS, ApiServer

OLD = "old-secret-" + "o" * 32
NEW = "new-secret-" + "n" * 32
ALICE = Principal("alice", key_id(ALICE_KEY))


def keys(pairs: dict[str, str] = TEST_KEYS) -> ApiKeys:
    return ApiKeys.from_settings(Settings(api_keys=pairs))


def refused(call: Any, code: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        call()
    assert caught.value.code == code, caught.value.message


def test_a_token_names_its_user_scopes_and_session() -> None:
    tokens = BrowserTokens([NEW])
    token, expires = tokens.issue(ALICE, ["status", "update"], "s1", 60)
    assert abs(expires - (time.time() + 60)) < 5
    seen = tokens.verify(token, keys())
    assert seen == Principal("alice", ALICE.key_id, frozenset({"status", "update"}), "s1")
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_expired_tampered_and_foreign_tokens_are_refused() -> None:
    tokens = BrowserTokens([NEW])
    token, _ = tokens.issue(ALICE, ["status"], None, 60)
    head, body, signature = token.split(".")
    refused(lambda: tokens.verify(f"{head}.{body}.{signature[::-1]}", keys()), "invalid_token")
    kid = jwt.get_unverified_header(token)["kid"]
    claims = {
        "iss": TOKEN_ISSUER,
        "aud": TOKEN_AUDIENCE,
        "sub": "alice",
        "scp": ["status"],
        "key": ALICE.key_id,
        "iat": int(time.time()) - 120,
        "exp": int(time.time()) - 60,
    }
    expired = jwt.encode(claims, NEW, algorithm="HS256", headers={"kid": kid})
    refused(lambda: tokens.verify(expired, keys()), "token_expired")
    live = {**claims, "exp": int(time.time()) + 60}
    unsigned = jwt.encode(live, None, algorithm="none", headers={"kid": kid})
    refused(lambda: tokens.verify(unsigned, keys()), "invalid_token")
    wider = jwt.encode({**live, "scp": ["delete"]}, NEW, algorithm="HS256", headers={"kid": kid})
    refused(lambda: tokens.verify(wider, keys()), "invalid_token")
    other_audience = jwt.encode({**live, "aud": "x"}, NEW, algorithm="HS256", headers={"kid": kid})
    refused(lambda: tokens.verify(other_audience, keys()), "invalid_token")


def test_rotation_keeps_tokens_until_their_secret_goes_and_a_removed_key_revokes() -> None:
    token, _ = BrowserTokens([OLD]).issue(ALICE, ["status"], None, 60)
    assert BrowserTokens([NEW, OLD]).verify(token, keys()).user == "alice"  # rotated
    refused(lambda: BrowserTokens([NEW]).verify(token, keys()), "token_revoked")  # dropped
    refused(lambda: BrowserTokens([OLD]).verify(token, keys({BOB_KEY: "bob"})), "token_revoked")


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        BrowserTokens(["short"])


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def token_for(api: httpx.Client, **body: Any) -> str:
    answer = api.post("/kontext/tokens", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["tokenType"] == "Bearer"
    token: str = answer.json()["token"]
    return token


def first_event(server: ApiServer, sid: str, token: str) -> str:
    with httpx.stream(
        "GET",
        f"{server.base_url}/kontext/preview/{sid}/events",
        headers=bearer(token),
        timeout=30,
        trust_env=False,
    ) as stream:
        assert stream.status_code == 200
        for line in stream.iter_lines():
            if line.startswith("event:"):
                return line.split(":", 1)[1].strip()
    return ""


@pytest.mark.vite
def test_the_api_accepts_a_token_within_its_scope_session_user_and_life(tmp_path: Path) -> None:
    server = ApiServer.start(tmp_path, token_secrets=[OLD])
    try:
        with server.client() as alice, server.client(BOB_KEY) as bob:
            mine = create_session(alice, project_files())["sessionId"]
            also_mine = create_session(alice, project_files())["sessionId"]
            bobs = create_session(bob, project_files())["sessionId"]
            token = token_for(alice, sessionId=mine)
            url = f"{server.base_url}/kontext/preview"
            with httpx.Client(headers=bearer(token), trust_env=False, timeout=60) as page:
                # Within its scope: status, update, events of its session.
                assert page.get(f"{url}/{mine}").json()["status"] == "active"
                update = page.post(
                    f"{url}/{mine}/update",
                    json={"files": [{"name": "src/frontend/src/x.ts", "content": "1"}]},
                )
                assert update.status_code == 200, update.text
                assert first_event(server, mine, token) == "session.starting"
                # Not a key: no create, delete, inspect, nor more tokens.
                for answer in (
                    page.post(url, json={"files": project_files()}),
                    page.delete(f"{url}/{mine}"),
                    page.post(f"{url}/{mine}/inspect"),
                    page.post(f"{server.base_url}/kontext/tokens", json={}),
                ):
                    assert answer.status_code == 403, answer.text
                    assert answer.json()["error"]["code"] == "forbidden"
                # Any other session, the user's or not, is refused alike.
                assert page.get(f"{url}/{also_mine}").status_code == 403
                assert page.get(f"{url}/{bobs}").status_code == 403
            # The Python client asks for one too.
            with KontextClient(server.base_url, ALICE_KEY, trust_env=False) as backend:
                made = backend.browser_token(mine, scopes=["status"], ttl_seconds=60)
            assert made.scopes == ["status"] and made.sessionId == mine and made.user == "alice"
            assert httpx.get(f"{url}/{mine}", headers=bearer(made.token)).status_code == 200
            # A token for all of alice's sessions, status only.
            status_only = token_for(alice, scopes=["status"])
            assert httpx.get(f"{url}/{also_mine}", headers=bearer(status_only)).status_code == 200
            wrong_scope = httpx.post(
                f"{url}/{mine}/update", headers=bearer(status_only), json={"files": []}
            )
            assert wrong_scope.status_code == 403
            assert "does not allow `update`" in wrong_scope.json()["error"]["message"]
            assert httpx.get(f"{url}/{bobs}", headers=bearer(status_only)).status_code == 404
            # Asking: only for one's own session, and not for too long.
            assert alice.post("/kontext/tokens", json={"sessionId": bobs}).status_code == 404
            assert alice.post("/kontext/tokens", json={"ttlSeconds": 86400}).status_code == 400
            assert alice.post("/kontext/tokens", json={"scopes": ["delete"]}).status_code == 422
            # Expiry.
            short = token_for(alice, sessionId=mine, ttlSeconds=1)
            time.sleep(2.1)
            expired = httpx.get(f"{url}/{mine}", headers=bearer(short))
            assert expired.status_code == 401
            assert expired.json()["error"]["code"] == "token_expired"
    finally:
        server.stop()

    # Rotation: a new secret first, the old one kept, and the token still works...
    def status_with(token: str, **settings: Any) -> httpx.Response:
        again = ApiServer.start(tmp_path, **settings)
        try:
            return httpx.get(
                f"{again.base_url}/kontext/preview/{mine}", headers=bearer(token), trust_env=False
            )
        finally:
            again.stop()

    # (accepted: what follows is the session's own answer, not an authentication error)
    assert status_with(token, token_secrets=[NEW, OLD]).status_code in (200, 404)
    # ...until the old secret goes, or the API key that asked for it does.
    for settings in (
        {"token_secrets": [NEW]},
        {"token_secrets": [OLD], "api_keys": {BOB_KEY: "bob"}},
    ):
        answer = status_with(token, **settings)
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "token_revoked"
