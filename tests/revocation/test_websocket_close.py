"""An accepted WebSocket is closed with 1008 once its session ends (and, when asked, when its
token expires); other users' WebSockets stay open."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.testclient import TestClient

from fastapi_kc import KeycloakAuth, KeycloakMiddleware, KeycloakSettings
from tests.revocation.support import logout_token
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import SigningKey, mint, user_claims


def build_app(auth: KeycloakAuth) -> FastAPI:
    app = FastAPI(lifespan=auth.lifespan)
    app.include_router(auth.backchannel_logout_router())
    app.add_middleware(KeycloakMiddleware, auth=auth)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_json({"echo": await websocket.receive_text()})
        except WebSocketDisconnect:
            return

    return app


def make_auth(fake_keycloak: FakeKeycloak, settings_values: dict[str, object], **overrides: Any) -> KeycloakAuth:
    settings = KeycloakSettings(**{**settings_values, "logout_audience": "web", **overrides})
    return KeycloakAuth(settings, http_client=fake_keycloak.client())


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_open_websocket_is_closed_with_1008_when_its_session_is_logged_out(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, object], signing_key: SigningKey
) -> None:
    mario = mint(user_claims(sid="session-of-mario"), signing_key)
    luigi = mint(user_claims(sid="session-of-luigi", sub="0b5c6e1a-user-luigi"), signing_key)
    with (
        TestClient(build_app(make_auth(fake_keycloak, settings_values))) as client,
        client.websocket_connect("/ws", headers=headers(mario)) as mario_ws,
        client.websocket_connect("/ws", headers=headers(luigi)) as luigi_ws,
    ):
        mario_ws.send_text("hello")
        assert mario_ws.receive_json() == {"echo": "hello"}

        assert client.post("/backchannel-logout", data={"logout_token": logout_token(signing_key)}).status_code == 200

        with pytest.raises(WebSocketDisconnect) as closed:
            mario_ws.receive_json()
        assert closed.value.code == 1008
        assert "session ended" in closed.value.reason
        luigi_ws.send_text("still here")
        assert luigi_ws.receive_json() == {"echo": "still here"}


def test_with_close_on_expiry_a_websocket_is_closed_when_its_token_expires(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, object], signing_key: SigningKey
) -> None:
    soon = mint(user_claims(exp=int(time.time()) + 1), signing_key)
    auth = make_auth(fake_keycloak, settings_values, websocket_close_on_expiry=True)
    with TestClient(build_app(auth)) as client, client.websocket_connect("/ws", headers=headers(soon)) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()  # nothing is sent: only the expiry ends the wait
        assert closed.value.code == 1008
        assert "expired" in closed.value.reason


def test_by_default_an_expired_token_does_not_close_its_websocket(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, object], signing_key: SigningKey
) -> None:
    soon = mint(user_claims(exp=int(time.time()) + 1), signing_key)
    with (
        TestClient(build_app(make_auth(fake_keycloak, settings_values))) as client,
        client.websocket_connect("/ws", headers=headers(soon)) as ws,
    ):
        time.sleep(2)  # past the token's exp; not a timing assertion
        ws.send_text("after expiry")
        assert ws.receive_json() == {"echo": "after expiry"}
