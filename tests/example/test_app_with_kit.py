"""The example shop tested the way its users would test it: only with `fastapi_kc.testing`.

No fake servers, no hand-made tokens: the app starts against a `MockKeycloak` (through the
`mock_keycloak` fixture of the pytest plugin) and every token goes through the real checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from example_app.main import create_app
from fastapi_kc import KeycloakSettings
from fastapi_kc.testing import MockKeycloak

SETTINGS = KeycloakSettings(
    public_url="https://sso.shop.example",  # never contacted: the mock answers for it
    realm="demo",
    audience="api",
    client_id="shop-api",
    client_secret="not-a-real-secret",
)


class NotifyService:
    """The service /orders/{id}/ship notifies, in process: it checks the caller's token like the shop does."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.app = FastAPI()
        self.shop: FastAPI | None = None

        @self.app.post("/internal/notify")
        async def notify(request: Request) -> dict[str, bool]:
            assert self.shop is not None
            token = request.headers["Authorization"].removeprefix("Bearer ")
            caller = await self.shop.state.auth.verify(token)
            self.received.append(
                {"caller": caller.client_id, "service": caller.is_service_account, **await request.json()}
            )
            return {"queued": True}


@pytest.fixture
def notify_service() -> NotifyService:
    return NotifyService()


@pytest.fixture
def app(notify_service: NotifyService) -> FastAPI:
    shop = create_app(
        SETTINGS, notify_url="http://notify.test", notify_transport=httpx.ASGITransport(notify_service.app)
    )
    notify_service.shop = shop
    return shop


@pytest.fixture
def keycloak(mock_keycloak: Callable[..., MockKeycloak], app: FastAPI) -> MockKeycloak:
    return mock_keycloak(app.state.auth, app.state.tokens)


@pytest.fixture
def client(keycloak: MockKeycloak, app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_health_needs_no_token(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}


def test_me_shows_the_caller(keycloak: MockKeycloak, client: TestClient) -> None:
    me = client.get("/me", headers=bearer(keycloak.token(username="mario", email="mario@example.test"))).json()
    assert (me["username"], me["email"]) == ("mario", "mario@example.test")


def test_admin_needs_the_admin_realm_role(keycloak: MockKeycloak, client: TestClient) -> None:
    assert client.get("/admin", headers=bearer(keycloak.token(realm_roles=["customer"]))).status_code == 403
    assert client.get("/admin", headers=bearer(keycloak.token(realm_roles=["admin"]))).status_code == 200


def test_orders_need_the_api_client_role_not_a_realm_role_of_that_name(
    keycloak: MockKeycloak, client: TestClient
) -> None:
    reader = keycloak.token(username="mario", client_roles={"api": ["orders:read"]})
    assert client.get("/orders", headers=bearer(reader)).json()[0]["customer"] == "mario"
    realm_role = keycloak.token(realm_roles=["orders:read"])
    assert client.get("/orders", headers=bearer(realm_role)).status_code == 403


@pytest.mark.parametrize("flag", [True, "true", ["true"]])
def test_checkout_reads_can_checkout_in_every_shape_keycloak_sends(
    keycloak: MockKeycloak, client: TestClient, flag: Any
) -> None:
    token = keycloak.token(username="mario", realm_roles=["customer"], claims={"canCheckout": flag})
    assert client.post("/checkout", headers=bearer(token)).json() == {"status": "paid", "customer": "mario"}


@pytest.mark.parametrize("flag", [False, "false", None])
def test_checkout_is_refused_without_can_checkout(keycloak: MockKeycloak, client: TestClient, flag: Any) -> None:
    token = keycloak.token(realm_roles=["customer"], claims={"canCheckout": flag})
    assert client.post("/checkout", headers=bearer(token)).status_code == 403


def test_shipping_notifies_with_the_shop_s_own_service_token(
    keycloak: MockKeycloak, client: TestClient, notify_service: NotifyService
) -> None:
    response = client.post("/orders/7/ship", headers=bearer(keycloak.token(realm_roles=["admin"])))
    assert response.json()["notification"] == {"queued": True}
    assert notify_service.received == [{"caller": "shop-api", "service": True, "order": 7, "event": "shipped"}]


def test_shipping_needs_the_admin_role_before_anything_is_sent(
    keycloak: MockKeycloak, client: TestClient, notify_service: NotifyService
) -> None:
    assert client.post("/orders/7/ship", headers=bearer(keycloak.token(realm_roles=["customer"]))).status_code == 403
    assert notify_service.received == []


def test_internal_notify_accepts_only_the_shop_api_service_account(keycloak: MockKeycloak, client: TestClient) -> None:
    ok = client.post("/internal/notify", json={"order": 1}, headers=bearer(keycloak.service_token("shop-api")))
    assert ok.json() == {"accepted": {"order": 1}, "caller": "shop-api"}
    assert client.post("/internal/notify", json={}, headers=bearer(keycloak.service_token("rogue"))).status_code == 403
    # A user named like a service account is still a user: it has a session.
    lookalike = keycloak.token(username="service-account-shop-api", claims={"client_id": "shop-api"})
    assert client.post("/internal/notify", json={}, headers=bearer(lookalike)).status_code == 403


def test_the_websocket_greets_a_signed_in_user_and_refuses_others(keycloak: MockKeycloak, client: TestClient) -> None:
    with client.websocket_connect("/ws", headers=bearer(keycloak.token(username="luigi"))) as ws:
        assert ws.receive_json() == {"hello": "luigi"}
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws") as ws:
        ws.receive_json()


@pytest.mark.parametrize(
    "token_args", [{"expires_in": -120}, {"audience": "another-api"}], ids=["expired", "another-audience"]
)
def test_tokens_the_api_must_not_trust_are_401_invalid_token(
    keycloak: MockKeycloak, client: TestClient, token_args: dict[str, Any]
) -> None:
    response = client.get("/me", headers=bearer(keycloak.token(**token_args)))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_token_of_another_keycloak_is_refused(client: TestClient, app: FastAPI) -> None:
    stranger = MockKeycloak(app.state.auth)  # the same realm's name and issuer, another key
    assert client.get("/me", headers=bearer(stranger.token())).status_code == 401
