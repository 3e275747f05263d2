"""Who calls an API route, as FastAPI dependencies: :func:`current_principal` reads the
``Authorization: Bearer`` header and asks :mod:`kontext_preview.auth` (API keys, browser
tokens) whose it is; ``User`` and the scoped aliases are what the routes take."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kontext_preview.auth import (
    SCOPES,
    ApiKeys,
    BrowserTokens,
    Forbidden,
    Principal,
    Unauthorized,
    key_id,
)

_bearer = HTTPBearer(
    auto_error=False,
    description="An API key (KONTEXT_API_KEYS), or a browser token (POST /kontext/tokens).",
)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Who calls: an API key's user, or a browser token's (Unauthorized otherwise)."""
    keys: ApiKeys = request.app.state.api_keys
    if credentials is None:
        raise Unauthorized(
            "missing API key: send `Authorization: Bearer <key>` (the key is printed when "
            "the service starts, or configured in KONTEXT_API_KEYS)"
        )
    presented = credentials.credentials
    user = keys.user_of(presented)
    if user is not None:
        return Principal(user, key_id(presented))
    if presented.count(".") == 2:  # a JWT's three parts
        tokens: BrowserTokens = request.app.state.browser_tokens
        return tokens.verify(presented, keys)
    raise Unauthorized("unknown API key: check the key in `Authorization: Bearer <key>`")


Caller = Annotated[Principal, Depends(current_principal)]


async def current_user(principal: Caller) -> str:
    """The user of a call only an API key may make (Forbidden for a browser token)."""
    if principal.scopes is not None:
        raise Forbidden(
            "this call needs the API key: a browser token allows only "
            f"{', '.join(SCOPES)} (make it from the chat's backend)"
        )
    return principal.user


def scoped_user(scope: str) -> Callable[..., Awaitable[str]]:
    """A dependency: the user of a ``scope`` call on the path's session, by an API key or
    a browser token that allows it (Forbidden otherwise)."""

    async def user(session_id: str, principal: Caller) -> str:
        principal.check(scope, session_id)
        return principal.user

    return user


User = Annotated[str, Depends(current_user)]
UpdateUser = Annotated[str, Depends(scoped_user("update"))]
StatusUser = Annotated[str, Depends(scoped_user("status"))]
EventsUser = Annotated[str, Depends(scoped_user("events"))]
