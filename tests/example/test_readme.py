"""The README is tested: each Python block runs against the fake Keycloak, and its tables are
compared with the library (settings, errors) and with the example app (routes).

Every ```python block must carry a `<!-- readme-test: NAME -->` marker with a check below; an
unmarked or unchecked block fails, so nothing in the README is only compiled.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from joserfc.jwk import RSAKey
from starlette.websockets import WebSocketDisconnect

import fastapi_kc._auth
import fastapi_kc._service_token
import fastapi_kc.login._login
from example_app.main import create_app
from fastapi_kc import KeycloakSettings
from fastapi_kc.login._keycloak import KeycloakClient
from tests.example.conftest import realm
from tests.example.readme_tables import errors_table, settings_table
from tests.login.fake import CLIENT_SECRET as LOGIN_CLIENT_SECRET
from tests.login.fake import LoginKeycloak
from tests.support.fake_keycloak import CLIENT_ID, CLIENT_SECRET, FakeKeycloak
from tests.support.tokens import (
    AUDIENCE,
    INTERNAL_URL,
    PUBLIC_URL,
    REALM,
    SigningKey,
    mint,
    service_claims,
    user_claims,
)

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
MARKED = re.compile(r"<!-- readme-test: ([\w-]+) -->\n```python\n(.*?)```", re.DOTALL)
BLOCKS = dict(MARKED.findall(README))


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, fake_keycloak: FakeKeycloak) -> FakeKeycloak:
    """KEYCLOAK_* variables pointing at the fake, and the library's HTTP clients bound to it."""
    values = {"PUBLIC_URL": PUBLIC_URL, "INTERNAL_URL": INTERNAL_URL, "REALM": REALM, "AUDIENCE": AUDIENCE,
              "CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": CLIENT_SECRET}  # fmt: skip
    for name, value in values.items():
        monkeypatch.setenv(f"KEYCLOAK_{name}", value)
    monkeypatch.setattr(fastapi_kc._auth, "create_http_client", lambda settings: fake_keycloak.client())
    monkeypatch.setattr(fastapi_kc._service_token, "create_http_client", lambda settings: fake_keycloak.client())
    return fake_keycloak


def run_block(name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": f"readme_{name.replace('-', '_')}"}
    # dont_inherit: the block runs as a module of its own would, without this file's
    # `from __future__ import annotations` (pydantic could not resolve its string annotations).
    code = compile(BLOCKS[name], f"README.md:{name}", "exec", dont_inherit=True)
    exec(code, namespace)  # noqa: S102 - the README's own code
    return namespace


@pytest.fixture
def bearer(signing_key: SigningKey) -> Callable[..., dict[str, str]]:
    def headers(claims: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint(claims, signing_key)}"}

    return headers


def test_every_python_block_is_marked_and_checked() -> None:
    all_blocks = re.findall(r"^```python$", README, re.MULTILINE)
    assert len(all_blocks) == len(BLOCKS), "a ```python block without a `<!-- readme-test: NAME -->` marker"
    checked = {
        name.removeprefix("test_block_").replace("_", "-") for name in globals() if name.startswith("test_block_")
    }
    assert set(BLOCKS) == checked


def test_block_quickstart(env: FakeKeycloak, bearer: Callable[..., dict[str, str]]) -> None:
    assert len(BLOCKS["quickstart"].splitlines()) < 25, "the quick start stays under 25 lines"
    app = run_block("quickstart")["app"]
    with TestClient(app) as client:
        assert client.get("/health").json() == {"status": "ok"}
        assert '"clientId": "web"' in client.get("/docs").text
        assert client.get("/me").status_code == 401
        me = client.get("/me", headers=bearer(user_claims()))
        assert me.json() == {"username": "mario", "email": "mario@example.test"}
        assert client.get("/admin", headers=bearer(user_claims())).status_code == 403
        admin = user_claims(realm_access={"roles": ["admin"]})
        assert client.get("/admin", headers=bearer(admin)).json() == {"message": "back office"}


def test_block_dependencies(env: FakeKeycloak, bearer: Callable[..., dict[str, str]]) -> None:
    app = run_block("dependencies")["app"]
    mario = bearer(user_claims(canCheckout=["true"]))
    with TestClient(app) as client:
        assert client.get("/orders", headers=mario).json() == {"customer": "mario"}
        realm_role_only = user_claims(realm_access={"roles": ["orders:read"]}, resource_access={})
        assert client.get("/orders", headers=bearer(realm_role_only)).status_code == 403
        assert client.get("/reports").status_code == 401
        assert client.get("/reports", headers=mario).status_code == 403
        assert client.get("/reports", headers=bearer(user_claims(realm_access={"roles": ["admin"]}))).json() == []
        assert client.get("/catalog").json() == {"member_prices": False}
        assert client.get("/catalog", headers=mario).json() == {"member_prices": True}
        assert client.post("/internal/notify", headers=bearer(service_claims("shop-api"))).json() == {
            "from": "shop-api"
        }
        assert client.post("/internal/notify", headers=mario).status_code == 403
        with client.websocket_connect("/ws", headers=mario) as ws:
            assert ws.receive_json() == {"hello": "mario"}
        with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws") as ws:
            ws.receive_json()


def test_block_principal_as_data(env: FakeKeycloak, bearer: Callable[..., dict[str, str]]) -> None:
    app = run_block("principal-as-data")["app"]
    with TestClient(app) as client:
        me = client.get("/me", headers=bearer(user_claims(tenant="north", secret_note="internal"))).json()
        assert (me["username"], me["tenant"], me["realm_roles"]) == ("mario", "north", ["customer",
                "default-roles-demo", "offline_access"])  # fmt: skip
        assert "claims" not in me and "internal" not in str(me)
        order = client.post("/orders", headers=bearer(user_claims(tenant="south"))).json()
        assert (order["item"], order["placed_by"]["tenant"]) == ("pizza", "south")
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
        assert "tenant" in schemas["ShopUser"]["properties"]


def test_block_optional_auth(env: FakeKeycloak, bearer: Callable[..., dict[str, str]]) -> None:
    app = run_block("optional-auth")["app"]
    with TestClient(app) as client:
        assert client.get("/prices").json() == {"prices": "public", "for": "anyone"}
        assert client.get("/prices", headers={"X-API-Key": "partner-key-1"}).json()["prices"] == "partner"
        assert client.get("/prices", headers={"X-API-Key": "stolen"}).status_code == 403
        basic = {"Authorization": "Basic cGFydG5lcjpzZWNyZXQ="}
        assert client.get("/prices", headers=basic).json()["prices"] == "public"
        assert client.get("/prices", headers=bearer(user_claims())).json() == {"prices": "member", "for": "mario"}
        assert client.get("/prices", headers=bearer(user_claims(exp=1_000_000_000))).status_code == 401


def test_block_two_auths(env: FakeKeycloak, bearer: Callable[..., dict[str, str]]) -> None:
    app = run_block("two-auths")["app"]
    with TestClient(app) as client:
        schema = client.get("/openapi.json").json()
        with_scope = bearer(user_claims(scope="openid orders"))
        assert client.get("/orders", headers=with_scope).json() == []
        assert client.get("/orders", headers=bearer(user_claims())).status_code == 403
        assert client.get("/partner/stock", headers=with_scope).status_code == 401, "a token for api, not partner-api"
        partner_token = bearer(user_claims(aud="partner-api"))
        assert client.get("/partner/stock", headers=partner_token).json() == {"pizza": 12}
    assert set(schema["components"]["securitySchemes"]) == {
        "KeycloakBearer.demo.api", "KeycloakLogin.demo.api", "KeycloakBearer.partners", "KeycloakLogin.partners",
    }  # fmt: skip
    orders = schema["paths"]["/orders"]["get"]
    assert {"KeycloakLogin.demo.api": ["orders"]} in orders["security"]
    assert {"401", "403", "503"} <= set(orders["responses"])
    login = schema["components"]["securitySchemes"]["KeycloakLogin.demo.api"]["flows"]["authorizationCode"]
    assert "orders" in login["scopes"]


class Shipping:
    """A stand-in for the other service: refuses the first token it sees once, records the rest."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        shipping = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                token = self.headers.get("Authorization", "")
                shipping.seen.append(token)
                refused = token == "Bearer service-token-1" and shipping.seen.count(token) == 1
                body = b"{}" if refused else b'{"queued": true}'
                self.send_response(401 if refused else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def shipping() -> Iterator[Shipping]:
    stand_in = Shipping()
    thread = threading.Thread(target=stand_in.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


def test_block_service_to_service(env: FakeKeycloak, shipping: Shipping, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPPING_URL", shipping.url)
    app = run_block("service-to-service")["app"]
    with TestClient(app) as client:
        assert client.post("/orders/7/ship").json() == {"queued": True}
        assert client.post("/orders/8/ship").json() == {"queued": True}
    # The first token was refused once: renewed and retried; then the cached token is reused.
    assert shipping.seen == ["Bearer service-token-1", "Bearer service-token-2", "Bearer service-token-2"]
    assert env.token_hits == 2


def test_block_token_exchange(
    env: FakeKeycloak, shipping: Shipping, monkeypatch: pytest.MonkeyPatch, bearer: Callable[..., dict[str, str]]
) -> None:
    monkeypatch.setenv("BILLING_URL", shipping.url)  # the stand-in records what billing receives
    app = run_block("token-exchange")["app"]
    mario = bearer(user_claims())
    with TestClient(app) as client:
        assert client.post("/orders/7/invoice", headers=mario).json() == {"queued": True}
        assert client.post("/orders/8/invoice", headers=mario).json() == {"queued": True}
        assert client.post("/orders/9/invoice").status_code == 401
    # mario's own token went to Keycloak once; billing got the exchanged token, reused.
    assert [(form["subject_token"], form["audience"]) for form in env.exchanges] == [
        (mario["Authorization"].removeprefix("Bearer "), "billing")
    ]
    assert shipping.seen == ["Bearer exchanged-token-1", "Bearer exchanged-token-1"]


def test_block_signed_jwt(
    env: FakeKeycloak, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, signing_key: SigningKey
) -> None:
    key_file = tmp_path / "shop-api-key.pem"
    key_file.write_bytes(signing_key.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))  # fmt: skip
    env.assertion_keys[CLIENT_ID] = RSAKey.import_key(signing_key.public_pem())
    monkeypatch.delenv("KEYCLOAK_CLIENT_SECRET")
    monkeypatch.setenv("KEYCLOAK_CLIENT_AUTH_METHOD", "private_key_jwt")
    monkeypatch.setenv("KEYCLOAK_CLIENT_PRIVATE_KEY_FILE", str(key_file))
    monkeypatch.setenv("KEYCLOAK_CLIENT_KEY_ID", "shop-api-key-1")
    assert run_block("signed-jwt")["token"] == "service-token-1"
    assert [assertion["header"]["kid"] for assertion in env.assertions] == ["shop-api-key-1"]


def test_block_step_up(env: FakeKeycloak, bearer: Callable[..., dict[str, str]]) -> None:
    app = run_block("step-up")["app"]
    now = int(time.time())
    with TestClient(app) as client:
        silver = client.post("/payments", headers=bearer(user_claims(acr="silver")))
        assert silver.status_code == 401 and silver.headers["WWW-Authenticate"].endswith('acr_values="gold"')
        assert client.post("/payments", headers=bearer(user_claims(acr="gold"))).json() == {"paid_by": "mario"}
        old = client.put("/password", headers=bearer(user_claims(auth_time=now - 600)))
        assert old.status_code == 401 and old.headers["WWW-Authenticate"].endswith('max_age="300"')
        fresh = client.put("/password", headers=bearer(user_claims(auth_time=now)))
        assert fresh.json() == {"changed_for": "mario"}


NO_NETWORK = """
import socket

import pytest


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise ConnectionRefusedError(111, "no network in these tests")

    for owner, name in [(socket, "getaddrinfo"), (socket, "create_connection"), (socket.socket, "connect"),
                        (socket.socket, "connect_ex")]:
        monkeypatch.setattr(owner, name, refuse)
    yield
    assert attempts == []
"""


def test_block_testing_your_app(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's test file, run by pytest beside the quick start's main.py, as a user runs it:
    the fixture comes from the installed plugin, Keycloak's name does not resolve, and a guard
    fails any test that opens a socket."""
    values = {"PUBLIC_URL": "https://auth.example.com", "INTERNAL_URL": "http://keycloak.invalid:8080",
              "REALM": REALM, "AUDIENCE": AUDIENCE}  # fmt: skip
    for name, value in values.items():
        monkeypatch.setenv(f"KEYCLOAK_{name}", value)
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    pytester.makepyfile(main=BLOCKS["quickstart"], test_main=BLOCKS["testing-your-app"])
    pytester.makeconftest(NO_NETWORK)
    result = pytester.runpytest("-p", "no:cacheprovider", "-W", "error")
    outcomes = result.parseoutcomes()
    assert set(outcomes) == {"passed"}, result.stdout.str()
    assert outcomes["passed"] > BLOCKS["testing-your-app"].count("\ndef test_")  # one is parametrised


def test_block_browser_login(
    env: FakeKeycloak, signing_key: SigningKey, monkeypatch: pytest.MonkeyPatch, bearer: Callable[..., dict[str, str]]
) -> None:
    login_keycloak = LoginKeycloak(signing_key)

    def bound_to_the_fake(*args: Any, **kwargs: Any) -> KeycloakClient:
        return KeycloakClient(*args, **(kwargs | {"transport": login_keycloak.transport()}))

    monkeypatch.setattr(fastapi_kc.login._login, "KeycloakClient", bound_to_the_fake)
    monkeypatch.setenv("LOGIN_CLIENT_SECRET", LOGIN_CLIENT_SECRET)
    monkeypatch.setenv("SESSION_SECRET", "s" * 32)
    app = run_block("browser-login")["app"]
    with TestClient(app, base_url="http://localhost:8000", follow_redirects=False) as browser:
        assert browser.get("/hello").status_code == 401
        query = dict(parse_qsl(urlsplit(browser.get("/auth/login").headers["location"]).query))
        code = login_keycloak.authorize(query)
        assert browser.get("/auth/callback", params={"code": code, "state": query["state"]}).status_code == 303
        page = browser.get("/hello").text
        assert "<h1>Hello mario</h1>" in page
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]  # type: ignore[index]
        assert browser.post("/auth/logout", headers={"Origin": "http://localhost:8000"}).status_code == 403
        out = browser.post("/auth/logout", data={"csrf_token": csrf}, headers={"Origin": "http://localhost:8000"})
        assert out.headers["location"].startswith(f"{PUBLIC_URL}/realms/{REALM}/protocol/openid-connect/logout?")
        assert browser.get("/hello").status_code == 401
        assert browser.get("/hello", headers=bearer(user_claims())).status_code == 200


def _section_table(marker: str) -> str:
    start = README.index(f"<!-- {marker}")
    lines = README[start:].splitlines()[1:]
    return "\n".join(line for line in lines[: next(i for i, line in enumerate(lines) if not line.startswith("|"))])


def test_settings_table_matches_keycloak_settings() -> None:
    assert _section_table("settings-table") == settings_table(), "run `python -m tests.example.readme_tables`"


def test_errors_table_matches_the_exception_classes() -> None:
    assert _section_table("errors-table") == errors_table(), "run `python -m tests.example.readme_tables`"


def test_every_variable_the_readme_names_is_a_setting() -> None:
    fields = {f"KEYCLOAK_{name.upper()}" for name in KeycloakSettings.model_fields}
    fields.add("KEYCLOAK_VERSION")  # keycloak_dev's pin, named in "Testing"
    assert set(re.findall(r"\bKEYCLOAK_[A-Z_]+[A-Z]\b", README)) <= fields


def routes_table() -> list[tuple[list[tuple[str, str]], dict[str, str]]]:
    """README's route table: ([(method, path), ...], {user: expected}) per row."""
    lines = _section_table("routes-table").splitlines()
    users = [cell.strip() for cell in lines[0].strip("|").split("|")][2:]
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        method, *_ = cells[0].strip("`").split()
        paths = [p.strip().strip("`").split()[-1] for p in cells[0].split(",")]
        rows.append(([(method, path.replace("{id}", "1")) for path in paths], dict(zip(users, cells[2:], strict=True))))
    return rows


def realm_user_claims(username: str) -> dict[str, Any]:
    """Claims as the demo realm would issue them to `username` through `web` (from the realm file)."""
    user = next(u for u in realm()["users"] if u["username"] == username)
    return user_claims(
        preferred_username=username,
        realm_access={"roles": user.get("realmRoles", [])},
        resource_access={client: {"roles": roles} for client, roles in user.get("clientRoles", {}).items()},
        canCheckout=user.get("attributes", {}).get("canCheckout", [None])[0] == "true" or None,
    )


def test_routes_table_matches_the_example_app(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, Any], bearer: Callable[..., dict[str, str]]
) -> None:
    """Every cell, with tokens shaped like the realm's users (test_live.py repeats it with real ones).

    Shipping for admin would call /internal/notify with a real service token, which the fake
    cannot issue: here it must pass the role check, and test_live.py asserts the 200.
    """
    app = create_app(KeycloakSettings(**settings_values), keycloak_client=fake_keycloak.client())
    with TestClient(app, raise_server_exceptions=False) as client:
        for routes, expected in routes_table():
            for username, outcome in expected.items():
                headers = bearer(realm_user_claims(username))
                for method, path in routes:
                    if method == "WS":
                        with client.websocket_connect(path, headers=headers) as ws:
                            got = "yes" if ws.receive_json() == {"hello": username} else "no"
                    elif path == "/orders/1/ship" and outcome == "200":
                        got = "200" if client.post(path, headers=headers).status_code not in (401, 403) else "refused"
                    else:
                        got = str(client.request(method, path, headers=headers, json={}).status_code)
                    assert (method, path, username, got) == (method, path, username, outcome)


def test_block_custom_errors(env: FakeKeycloak, bearer: Callable[..., dict[str, str]]) -> None:
    app = run_block("custom-errors")["app"]
    with TestClient(app) as client:
        browser = client.get("/orders", headers={"Accept": "text/html"}, follow_redirects=False)
        assert (browser.status_code, browser.headers["Location"]) == (303, "/login?next=/orders")
        api = client.get("/orders", headers={"Accept": "application/json"})
        assert api.status_code == 401
        assert api.headers["Content-Type"] == "application/problem+json"
        assert api.json() == {"type": "about:blank", "title": "unauthorized", "status": 401,
                              "detail": "a bearer token is required"}  # fmt: skip
        assert api.headers["WWW-Authenticate"] == f'Bearer realm="{REALM}"'
        assert client.get("/login").json() == {"page": "login"}
        assert client.get("/orders", headers=bearer(user_claims())).json() == []


def test_block_public_methods(env: FakeKeycloak, bearer: Callable[..., dict[str, str]]) -> None:
    app = run_block("public-methods")["app"]
    with TestClient(app) as client:
        assert client.get("/catalog/shoes").json() == {"item": "shoes", "member": False}
        assert client.get("/catalog/shoes", headers=bearer(user_claims())).json() == {"item": "shoes", "member": True}
        assert client.put("/catalog/shoes").status_code == 401
        assert client.put("/catalog/shoes", headers=bearer(user_claims())).json() == {"changed": "shoes"}


def test_block_cors(env: FakeKeycloak, caplog: pytest.LogCaptureFixture) -> None:
    app = run_block("cors")["app"]
    origin = {"Origin": "https://shop.example.com"}
    with TestClient(app) as client:
        preflight = client.options("/orders", headers={**origin, "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 200
        refused = client.post("/orders", headers=origin)
        assert refused.status_code == 401
        assert refused.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert not [r for r in caplog.records if "CORSMiddleware" in r.getMessage()]


def test_block_several_realms(
    env: FakeKeycloak, bearer: Callable[..., dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    partner_key = SigningKey.rsa("kid-partner")
    partner_issuer = "https://login.partner.example/realms/partners"

    def partner_keycloak(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/realms/partners/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": partner_issuer})
        if request.url.path == "/realms/partners/protocol/openid-connect/certs":
            return httpx.Response(200, json={"keys": [partner_key.jwk()]})
        return httpx.Response(404)

    def clients(settings: KeycloakSettings) -> httpx.AsyncClient:
        if settings.realm == "partners":
            return httpx.AsyncClient(transport=httpx.MockTransport(partner_keycloak))
        return env.client()

    monkeypatch.setattr(fastapi_kc._auth, "create_http_client", clients)
    app = run_block("several-realms")["app"]
    partner = {
        "Authorization": f"Bearer {mint(user_claims(iss=partner_issuer, preferred_username='pia'), partner_key)}"
    }
    staff = bearer(user_claims())
    with TestClient(app) as client:
        assert client.get("/whoami", headers=staff).json() == {
            "issuer": f"{PUBLIC_URL}/realms/{REALM}",
            "username": "mario",
        }
        assert client.get("/whoami", headers=partner).json() == {"issuer": partner_issuer, "username": "pia"}
        assert client.get("/partner-portal", headers=partner).json() == {"partner": "pia"}
        assert client.get("/partner-portal", headers=staff).status_code == 401
        stranger = mint(user_claims(iss="https://elsewhere.example/realms/x"), partner_key)
        assert client.get("/whoami", headers={"Authorization": f"Bearer {stranger}"}).status_code == 401


def test_block_metrics(env: FakeKeycloak, bearer: Callable[..., dict[str, str]]) -> None:
    from prometheus_client import REGISTRY

    namespace = run_block("metrics")
    app, metrics = namespace["app"], namespace["auth"].metrics
    try:
        with TestClient(app) as client:
            assert client.get("/health/ready").json() == {"ready": True}  # no token needed
            assert client.get("/me").status_code == 401  # every other path needs a token
            exposition = client.get("/metrics").text
    finally:
        REGISTRY.unregister(metrics)  # the block uses the default registry: leave it as it was
    assert 'fastapi_kc_key_set_fetches_total{result="ok"} 1.0' in exposition
    assert 'fastapi_kc_authentications_total{outcome="refused",reason="no_token"} 1.0' in exposition


def test_block_backchannel_logout(env: FakeKeycloak, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.revocation.support import logout_token

    monkeypatch.setenv("KEYCLOAK_LOGOUT_AUDIENCE", "web")
    app = run_block("backchannel-logout")["app"]
    key = env.keys[0]
    token = mint(user_claims(sid="session-of-mario"), key)
    with TestClient(app) as client:
        assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        logout = client.post("/backchannel-logout", data={"logout_token": logout_token(key)})  # no bearer token
        assert logout.status_code == 200
        refused = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    assert refused.json()["detail"] == "session ended"
