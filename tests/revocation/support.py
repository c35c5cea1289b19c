"""Logout tokens as Keycloak 26.5 sends them, and an app with the back-channel route, for tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI

from fastapi_kc import KeycloakAuth, Principal
from tests.support.tokens import ISSUER, SigningKey, mint

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def logout_claims(**overrides: Any) -> dict[str, Any]:
    """A logout token's claims as Keycloak 26.5 writes them for a user of client `web`.

    An override of None removes the claim.
    """
    now = int(time.time())
    claims: dict[str, Any] = {
        "iat": now,
        "exp": now + 120,
        "jti": str(uuid.uuid4()),
        "iss": ISSUER,
        "aud": "web",
        "sub": "0b5c6e1a-user-mario",
        "typ": "Logout",
        "sid": "session-of-mario",
        "events": {LOGOUT_EVENT: {}, "revoke_offline_access": True},
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def logout_token(key: SigningKey, header: dict[str, Any] | None = None, **overrides: Any) -> str:
    return mint(logout_claims(**overrides), key, {"typ": "logout+jwt", **(header or {})})


def build_app(auth: KeycloakAuth) -> FastAPI:
    app = FastAPI(lifespan=auth.lifespan)
    app.include_router(auth.backchannel_logout_router())

    @app.get("/me")
    async def me(user: Principal = Depends(auth.principal)) -> dict[str, Any]:
        return {"subject": user.subject}

    return app


def eventually(condition: Callable[[], bool], within: float = 1.0) -> bool:
    """Poll `condition` until it holds or `within` seconds have passed (a bound, not a speed test)."""
    deadline = time.monotonic() + within
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
