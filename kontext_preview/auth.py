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

Browser tokens (:class:`BrowserTokens`, issue 20) let a chat's frontend call the API
without an API key: the chat's backend, which holds the key, asks ``POST
/kontext/tokens`` for a short-lived JWT (RFC 7519, HS256, signed and checked by PyJWT)
naming the key's user, optionally one session, and scopes out of :data:`SCOPES`. The
service accepts it like the key within that scope until it expires. It stops being
accepted when the secret that signed it leaves ``KONTEXT_TOKEN_SECRETS`` (rotation) or
the API key that asked for it leaves the configured keys.

Reading the header is the HTTP surface's (``kontext_preview.callers``: FastAPI
dependencies); this module knows keys, tokens and who they name.
"""

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import jwt

from kontext_preview.config import Settings
from kontext_preview.errors import KontextError

LOCAL_USER = "local"
KEY_FILE_NAME = "api-key"
TOKEN_SECRET_FILE_NAME = "token-secret"
# What a browser token may be scoped to: the calls a chat's page makes (issue 20).
SCOPES = ("update", "status", "events")
TOKEN_ISSUER = "kontext-preview"
TOKEN_AUDIENCE = "kontext-preview:browser"
MIN_SECRET_LENGTH = 32


class Unauthorized(KontextError):
    status_code = 401
    code = "unauthorized"
    headers = {"www-authenticate": "Bearer"}


class Forbidden(KontextError):
    status_code = 403
    code = "forbidden"


@dataclass(frozen=True)
class Principal:
    """Who calls: an API key's user (``scopes`` None: every call), or a browser token's,
    limited to ``scopes`` and, when it names one, to ``session_id``. ``key_id``: the API
    key that made the call or asked for the token (:func:`key_id`)."""

    user: str
    key_id: str
    scopes: frozenset[str] | None = None
    session_id: str | None = None

    def check(self, scope: str, session_id: str | None = None) -> None:
        """Raises Forbidden when this caller may not make a ``scope`` call (on
        ``session_id``)."""
        if self.scopes is None:
            return
        if scope not in self.scopes:
            raise Forbidden(
                f"this browser token does not allow `{scope}` (it allows "
                f"{', '.join(sorted(self.scopes)) or 'nothing'}): ask the chat's backend for a "
                "token with that scope, or make the call with the API key"
            )
        if self.session_id is not None and session_id != self.session_id:
            raise Forbidden(
                "this browser token is for another session: ask the chat's backend for a "
                "token for this one"
            )


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

    @cached_property
    def key_ids(self) -> frozenset[str]:
        """:func:`key_id` of every configured key (what browser tokens are checked against)."""
        return frozenset(_id_of(digest) for digest in self.users)


def key_id(key: str) -> str:
    """A name of an API key that tells nothing of it (24 hex digits of a hash of its
    digest): what a browser token records of the key that asked for it."""
    return _id_of(_digest(key))


def _id_of(digest: bytes) -> str:
    return hashlib.sha256(b"kontext-preview key id\0" + digest).hexdigest()[:24]


class BrowserTokens:
    """Signs and checks browser tokens: JWTs (HS256, PyJWT) with ``sub`` (the user),
    ``scp`` (scopes), ``sid`` (a session, or absent), ``key`` (:func:`key_id` of the API
    key that asked), ``iat``/``exp`` (Unix seconds), ``iss``/``aud`` fixed, and a ``kid``
    header naming the secret that signed it. ``secrets``: the first signs, every one
    verifies (rotation: put a new one first, drop the old once its tokens expired;
    dropping one revokes what it signed)."""

    def __init__(self, secrets_: Sequence[str]):
        if not secrets_:
            raise ValueError("browser tokens need at least one secret (KONTEXT_TOKEN_SECRETS)")
        for secret in secrets_:
            if len(secret) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"a KONTEXT_TOKEN_SECRETS secret is too short: use {MIN_SECRET_LENGTH} "
                    "characters or more (`python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))'`)"
                )
        self._by_kid = {self._kid(secret): secret for secret in secrets_}
        self._signing = secrets_[0]

    @classmethod
    def from_settings(cls, settings: Settings) -> "BrowserTokens":
        return cls(settings.token_secrets or [local_token_secret(settings.data_dir)])

    @staticmethod
    def _kid(secret: str) -> str:
        return hashlib.sha256(b"kontext-preview token secret\0" + secret.encode()).hexdigest()[:16]

    def issue(
        self,
        principal: Principal,
        scopes: Sequence[str],
        session_id: str | None,
        ttl_seconds: int,
    ) -> tuple[str, int]:
        """A token for ``principal``'s user (an API key's); returns it and its expiry
        (Unix seconds)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": TOKEN_ISSUER,
            "aud": TOKEN_AUDIENCE,
            "sub": principal.user,
            "scp": sorted(set(scopes)),
            "key": principal.key_id,
            "iat": now,
            "exp": now + ttl_seconds,
        }
        if session_id is not None:
            claims["sid"] = session_id
        kid = self._kid(self._signing)
        token = jwt.encode(claims, self._signing, algorithm="HS256", headers={"kid": kid})
        return token, claims["exp"]

    def verify(self, token: str, keys: ApiKeys) -> Principal:
        """The caller a token names. Raises Unauthorized: malformed or badly signed
        (``invalid_token``), expired (``token_expired``), signed by a secret no longer
        configured or asked for by an API key no longer configured (``token_revoked``)."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError:
            raise _invalid() from None
        secret = self._by_kid.get(kid) if isinstance(kid, str) else None
        if secret is None:
            raise _revoked("it was signed with a secret the service no longer has (rotated)")
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                audience=TOKEN_AUDIENCE,
                issuer=TOKEN_ISSUER,
                options={"require": ["exp", "iat", "sub", "scp", "key"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized(
                "the browser token expired: ask the chat's backend for a new one",
                code="token_expired",
            ) from None
        except jwt.InvalidTokenError:
            raise _invalid() from None
        scopes = claims["scp"]
        if not isinstance(scopes, list) or not set(scopes) <= set(SCOPES):
            raise _invalid()
        if str(claims["key"]) not in keys.key_ids:
            raise _revoked("the API key that asked for it is no longer configured")
        sid = claims.get("sid")
        return Principal(
            str(claims["sub"]),
            str(claims["key"]),
            frozenset(scopes),
            sid if isinstance(sid, str) else None,
        )


def _invalid() -> Unauthorized:
    return Unauthorized(
        "unknown API key or invalid browser token: send `Authorization: Bearer <key or token>`",
        code="invalid_token",
    )


def _revoked(why: str) -> Unauthorized:
    return Unauthorized(
        f"the browser token was revoked: {why}; ask the chat's backend for a new one",
        code="token_revoked",
    )


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
    return _kept(data_dir / KEY_FILE_NAME, lambda: "kp_" + secrets.token_urlsafe(32), 1)


def local_token_secret(data_dir: Path) -> str:
    """The secret that signs browser tokens when KONTEXT_TOKEN_SECRETS sets none: made
    once, kept in the data directory (0600), so tokens survive a restart. Several API
    processes behind one load balancer must share KONTEXT_TOKEN_SECRETS instead."""
    path = data_dir / TOKEN_SECRET_FILE_NAME
    return _kept(path, lambda: secrets.token_urlsafe(48), MIN_SECRET_LENGTH)


def _kept(path: Path, make: Callable[[], str], min_length: int) -> str:
    """The secret in ``path`` if it holds one of ``min_length`` characters or more, else a
    new one from ``make``, written there readable by this user only (0600)."""
    if path.exists():
        kept = path.read_text().strip()
        if len(kept) >= min_length:
            return kept
    path.parent.mkdir(parents=True, exist_ok=True)
    made = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(made + "\n")
    return made


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()
