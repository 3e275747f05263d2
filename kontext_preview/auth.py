"""API keys: every API call carries ``Authorization: Bearer <key>``, and the key names a user.

Keys are configured as ``KONTEXT_API_KEYS`` (a JSON object, key → user) or, in
a file, ``KONTEXT_API_KEYS_FILE`` (one ``user key`` pair per line; ``#`` starts a
comment), so an operator can rotate them without touching the environment.
With neither, the embedded default makes one local key for the user ``local``,
keeps it in ``<data_dir>/api-key`` (mode 0600, so it survives restarts) and
prints it at start; distributed mode refuses to start without configured keys.

A user sees and changes only their own sessions: another user's session is
answered exactly like an unknown one (404), so ids do not leak existence.
Previews themselves are not authenticated: their 160-bit random host names are
the capability, as an iframe cannot send a bearer header.
"""

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kontext_preview.config import Settings
from kontext_preview.errors import KontextError

LOCAL_USER = "local"
KEY_FILE_NAME = "api-key"


class Unauthorized(KontextError):
    status_code = 401
    code = "unauthorized"
    headers = {"www-authenticate": "Bearer"}


@dataclass(frozen=True)
class ApiKeys:
    """Key digests → users (only digests are kept in memory), and the generated local key."""

    users: dict[bytes, str]
    generated: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "ApiKeys":
        pairs = dict(settings.api_keys)
        if settings.api_keys_file:
            pairs.update(read_key_file(settings.api_keys_file))
        for key, user in pairs.items():
            if len(key) < 16 or not user:
                raise ValueError(
                    f"API key of user {user!r} is too short: use 16 characters or more "
                    "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
                )
        generated = None
        if not pairs:
            if settings.mode == "distributed":
                raise ValueError(
                    "distributed mode needs API keys: set KONTEXT_API_KEYS "
                    '(e.g. \'{"<key>": "<user>"}\') or KONTEXT_API_KEYS_FILE'
                )
            generated = local_key(settings.data_dir)
            pairs = {generated: LOCAL_USER}
        return cls({_digest(k): u for k, u in pairs.items()}, generated)

    def user_of(self, key: str) -> str | None:
        digest = _digest(key)
        for known, user in self.users.items():  # constant time per comparison
            if hmac.compare_digest(known, digest):
                return user
        return None


def read_key_file(path: Path) -> dict[str, str]:
    pairs = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{path}:{number}: expected `user key`, got {len(parts)} fields")
        user, key = parts
        pairs[key] = user
    return pairs


def local_key(data_dir: Path) -> str:
    """The embedded default's key: made once, kept in the data directory (0600)."""
    path = data_dir / KEY_FILE_NAME
    if path.exists():
        key = path.read_text().strip()
        if key:
            return key
    data_dir.mkdir(parents=True, exist_ok=True)
    key = "kp_" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


_bearer = HTTPBearer(auto_error=False, description="An API key (KONTEXT_API_KEYS).")


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    keys: ApiKeys = request.app.state.api_keys
    if credentials is None:
        raise Unauthorized(
            "missing API key: send `Authorization: Bearer <key>` (the key is printed when "
            "the service starts, or configured in KONTEXT_API_KEYS)"
        )
    user = keys.user_of(credentials.credentials)
    if user is None:
        raise Unauthorized("unknown API key: check the key in `Authorization: Bearer <key>`")
    return user


User = Annotated[str, Depends(current_user)]
