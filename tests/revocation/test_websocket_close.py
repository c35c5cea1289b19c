"""An accepted WebSocket is closed with 1008 once its session ends (and, when asked, when its
token expires); other users' WebSockets stay open."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from fastapi_kc import KeycloakAuth, KeycloakMiddleware, KeycloakSettings
from fastapi_kc.revocation import MemoryRevocationStore
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


class ReceiveRecorder:
    """An ASGI layer that notes the `receive` callable each WebSocket reaches it with."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: list[Receive] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            self.seen.append(receive)
        await self.app(scope, receive, send)


def receives(auth: KeycloakAuth, token: str, *, logout_route: bool = False) -> tuple[Receive, Receive]:
    """The `receive` the server gave the middleware, and the one the application was given."""
    app = FastAPI(lifespan=auth.lifespan)
    if logout_route:
        app.include_router(auth.backchannel_logout_router())

    @app.websocket("/ws")
    async def echo_once(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"echo": await websocket.receive_text()})

    inner = ReceiveRecorder(app)
    outer = ReceiveRecorder(KeycloakMiddleware(inner, auth=auth))
    with TestClient(outer) as client, client.websocket_connect("/ws", headers=headers(token)) as ws:
        ws.send_text("hello")
        assert ws.receive_json() == {"echo": "hello"}
    return outer.seen[0], inner.seen[0]


def test_when_nothing_can_end_a_websocket_early_the_application_gets_the_servers_own_receive(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, object], signing_key: SigningKey
) -> None:
    server, application = receives(make_auth(fake_keycloak, settings_values), mint(user_claims(), signing_key))
    assert application is server


@pytest.mark.parametrize(
    ("overrides", "logout_route"),
    [({}, True), ({"websocket_close_on_expiry": True}, False)],
    ids=["a back-channel logout route", "close on expiry"],
)
def test_when_something_can_end_a_websocket_early_its_receive_is_guarded(
    fake_keycloak: FakeKeycloak,
    settings_values: dict[str, object],
    signing_key: SigningKey,
    overrides: dict[str, object],
    logout_route: bool,
) -> None:
    auth = make_auth(fake_keycloak, settings_values, **overrides)
    server, application = receives(auth, mint(user_claims(), signing_key), logout_route=logout_route)
    assert application is not server


def test_a_revocation_store_passed_in_makes_websockets_guarded(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, object], signing_key: SigningKey
) -> None:
    auth = KeycloakAuth(
        KeycloakSettings(**settings_values),
        http_client=fake_keycloak.client(),
        revocation_store=MemoryRevocationStore(clock=time.time),
    )
    server, application = receives(auth, mint(user_claims(), signing_key))
    assert application is not server
