"""The example app through TestClient against the fake Keycloak: every route, every kind of caller.

The same routes run against a real Keycloak in test_live.py and in a real browser in
test_browser.py; here they are fast and cover the edge cases (claim shapes, wrong clients).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from example_app.main import create_app
from fastapi_kc import KeycloakSettings
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import ISSUER, SigningKey, mint, service_claims, user_claims


@pytest.fixture
def client(fake_keycloak: FakeKeycloak, settings_values: dict[str, Any]) -> Iterator[TestClient]:
    app = create_app(KeycloakSettings(**settings_values), keycloak_client=fake_keycloak.client())
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def as_user(signing_key: SigningKey) -> Any:
    def headers(**claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint(user_claims(**claims), signing_key)}"}

    return headers


def test_public_paths_need_no_token(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200


def test_swagger_ui_is_served_by_the_app_itself_without_a_cdn(client: TestClient) -> None:
    page = client.get("/docs").text
    assert "cdn." not in page and "https://" not in page
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs/assets/swagger-ui.css").status_code == 200
    assert "opener" in client.get("/docs/oauth2-redirect").text  # hands the code back to Swagger UI


def test_swagger_ui_logs_in_with_pkce_through_the_public_web_client(client: TestClient) -> None:
    page = client.get("/docs").text
    assert '"clientId": "web"' in page
    assert '"usePkceWithAuthorizationCodeGrant": true' in page
    assert "secret" not in page.lower()
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    flow = next(s for s in schemes.values() if s["type"] == "oauth2")["flows"]["authorizationCode"]
    # The browser goes to the PUBLIC URL; the service itself never does.
    assert flow["authorizationUrl"] == f"{ISSUER}/protocol/openid-connect/auth"
    assert flow["tokenUrl"] == f"{ISSUER}/protocol/openid-connect/token"


@pytest.mark.parametrize("path", ["/me", "/admin", "/orders"])
def test_protected_routes_declare_security_so_swagger_ui_sends_the_token(client: TestClient, path: str) -> None:
    assert client.get("/openapi.json").json()["paths"][path]["get"]["security"]


@pytest.mark.parametrize(("method", "path"), [("GET", "/me"), ("GET", "/admin"), ("GET", "/orders"),
                                              ("POST", "/checkout"), ("POST", "/internal/notify"),
                                              ("POST", "/orders/1/ship")])  # fmt: skip
def test_every_other_route_needs_a_token(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="demo"')


def test_me_shows_who_is_calling(client: TestClient, as_user: Any) -> None:
    body = client.get("/me", headers=as_user()).json()
    assert body["username"] == "mario"
    assert body["name"] == "Mario Rossi"
    assert "customer" in body["realm_roles"]
    assert body["api_roles"] == ["orders:read"]
    assert body["service_account"] is False


def test_admin_needs_the_realm_role(client: TestClient, as_user: Any) -> None:
    denied = client.get("/admin", headers=as_user())
    assert denied.status_code == 403
    assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]
    admin = as_user(preferred_username="admin", realm_access={"roles": ["admin"]})
    assert client.get("/admin", headers=admin).status_code == 200


def test_orders_need_the_client_role_of_api_not_a_realm_role_of_the_same_name(client: TestClient, as_user: Any) -> None:
    assert client.get("/orders", headers=as_user()).json()[0]["customer"] == "mario"
    realm_role_only = as_user(realm_access={"roles": ["orders:read"]}, resource_access={})
    assert client.get("/orders", headers=realm_role_only).status_code == 403


@pytest.mark.parametrize("shape", [True, "true", ["true"]])
def test_checkout_reads_can_checkout_in_every_shape(client: TestClient, as_user: Any, shape: object) -> None:
    response = client.post("/checkout", headers=as_user(canCheckout=shape))
    assert response.status_code == 200
    assert response.json() == {"status": "paid", "customer": "mario"}


@pytest.mark.parametrize("shape", [None, False, "false", ["false"], "yes", []])
def test_checkout_is_refused_without_can_checkout(client: TestClient, as_user: Any, shape: object) -> None:
    response = client.post("/checkout", headers=as_user(canCheckout=shape))
    assert response.status_code == 403
    assert response.json() == {"detail": "checkout is disabled for this account"}


def test_checkout_needs_the_customer_role(client: TestClient, as_user: Any) -> None:
    no_customer = as_user(canCheckout=True, realm_access={"roles": ["default-roles-demo"]})
    assert client.post("/checkout", headers=no_customer).status_code == 403


def test_internal_notify_accepts_only_the_shop_api_service_account(
    client: TestClient, signing_key: SigningKey, as_user: Any
) -> None:
    def service(client_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint(service_claims(client_id), signing_key)}"}

    ok = client.post("/internal/notify", json={"order": 7}, headers=service("shop-api"))
    assert ok.status_code == 200
    assert ok.json() == {"accepted": {"order": 7}, "caller": "shop-api"}
    assert client.post("/internal/notify", json={}, headers=service("rogue")).status_code == 403
    # A user without an email who logged in through shop-api is still a user, not a machine.
    user = as_user(email=None, azp="shop-api")
    assert client.post("/internal/notify", json={}, headers=user).status_code == 403


def test_ship_needs_the_admin_role_before_any_call_goes_out(client: TestClient, as_user: Any) -> None:
    assert client.post("/orders/1/ship", headers=as_user()).status_code == 403


def test_websocket_greets_and_echoes_the_signed_in_user(client: TestClient, as_user: Any) -> None:
    with client.websocket_connect("/ws", headers=as_user()) as ws:
        assert ws.receive_json() == {"hello": "mario"}
        ws.send_text("hi")
        assert ws.receive_json() == {"from": "mario", "echo": "hi"}


def test_websocket_without_a_token_is_refused(client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws") as ws:
        ws.receive_json()


def test_the_app_builds_from_the_environment(monkeypatch: pytest.MonkeyPatch, settings_values: dict[str, Any]) -> None:
    for name, value in settings_values.items():
        monkeypatch.setenv(f"KEYCLOAK_{name.upper()}", str(value))
    app = create_app()
    assert app.title == "Example shop"
