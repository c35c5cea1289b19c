"""The back-channel logout route: `POST` with form field `logout_token`, called by Keycloak.

OpenID Connect Back-Channel Logout 1.0 §2.8: 200 when the logout was processed, 400 with an
`error` body when the token is refused, and `Cache-Control: no-store` either way. Nothing
here answers 500: a store that cannot share the revocation gives 503 (it was applied on this
replica all the same), and a body that is not a form gives 400.

The route needs no bearer token (Keycloak has none to send): `KeycloakAuth` lists its path in
`auth.public_paths`, which `KeycloakMiddleware` lets through. Include the router without a
prefix (give the whole path as `path=` to serve it elsewhere).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import parse_qs

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fastapi_kc._errors import AuthError
from fastapi_kc._metrics import NO_METRICS, MetricsSink
from fastapi_kc.revocation._logout_token import InvalidLogoutTokenError, LogoutClaims, LogoutTokenValidator
from fastapi_kc.revocation._store import StoreUnavailableError

logger = logging.getLogger("fastapi_kc")

MAX_BODY: Final = 64 * 1024  # a form with one token; anything larger is not a logout request
_NO_STORE: Final = {"Cache-Control": "no-store"}

Logout = Callable[[LogoutClaims], Awaitable[None]]


def _error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status, headers=_NO_STORE)


async def _form_token(request: Request) -> str:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise InvalidLogoutTokenError("expected a form (application/x-www-form-urlencoded) with logout_token")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise InvalidLogoutTokenError("request body is too large for a logout request")
    try:
        form = parse_qs(body.decode("ascii"), max_num_fields=20, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise InvalidLogoutTokenError("request body is not a form") from None
    tokens = form.get("logout_token", [])
    if len(tokens) != 1 or not tokens[0]:
        raise InvalidLogoutTokenError("the form must carry exactly one logout_token")
    return tokens[0]


def logout_router(
    validator: LogoutTokenValidator, logout: Logout, path: str, metrics: MetricsSink = NO_METRICS
) -> APIRouter:
    """An `APIRouter` with the one public `POST path` route; `logout` records what a valid token asks.

    Each call is counted by result (`metrics.revocation_received`): `accepted`, `invalid` (400),
    `keys_unavailable` or `not_shared` (503).
    """
    router = APIRouter()

    def outcome(result: str, status: int) -> dict[str, object]:
        metrics.revocation_received(result)
        return {"event": "backchannel_logout", "result": result, "status": status, "path": path}

    async def backchannel_logout(request: Request) -> Response:
        try:
            token = await _form_token(request)
            claims = await validator.validate(token)
            await logout(claims)
        except InvalidLogoutTokenError as exc:
            logger.warning("back-channel logout refused: %s", exc.description, extra=outcome("invalid", 400))
            return _error(400, "invalid_request", exc.description)
        except AuthError as exc:  # the key cannot be learnt now: Keycloak itself is unreachable
            logger.warning(
                "back-channel logout not processed: %s", exc.description, extra=outcome("keys_unavailable", 503)
            )
            return _error(503, "temporarily_unavailable", exc.description)
        except StoreUnavailableError as exc:
            logger.warning(
                "back-channel logout applied on this replica only: %s", exc, extra=outcome("not_shared", 503)
            )
            return _error(503, "temporarily_unavailable", "logout applied here, but not shared with other replicas")
        logger.info(
            "back-channel logout: session %s, subject %s",
            "named" if claims.session_id else "not named",
            "named" if claims.subject else "not named",
            extra=outcome("accepted", 200),
        )
        return Response(status_code=200, headers=_NO_STORE)

    router.add_api_route(path, backchannel_logout, methods=["POST"], include_in_schema=False)
    return router
