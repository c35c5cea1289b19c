"""The back-channel logout route with the fake Keycloak: what a valid logout token ends, and
every logout token OpenID Connect Back-Channel Logout 1.0 §2.6 says to refuse."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fastapi_kc import ConfigurationError, KeycloakAuth, KeycloakMiddleware, KeycloakSettings
from tests.revocation.support import logout_token
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import SigningKey, mint, user_claims

ROUTE = "/backchannel-logout"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def logout(client: TestClient, token: str, path: str = ROUTE) -> Any:
    return client.post(path, data={"logout_token": token})


def test_a_logout_ends_the_session_even_for_a_token_in_the_verified_cache(
    client: TestClient, signing_key: SigningKey
) -> None:
    token = mint(user_claims(sid="session-of-mario"), signing_key)
    for _ in range(2):  # cached from its second sighting on
        assert client.get("/me", headers=bearer(token)).status_code == 200

    response = logout(client, logout_token(signing_key, sub=None))

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    refused = client.get("/me", headers=bearer(token))
    assert refused.status_code == 401
    assert 'error="invalid_token", error_description="session ended"' in refused.headers["www-authenticate"]


def test_a_token_first_seen_after_the_logout_is_refused_too(client: TestClient, signing_key: SigningKey) -> None:
    token = mint(user_claims(sid="session-of-mario"), signing_key)
    assert logout(client, logout_token(signing_key, sub=None)).status_code == 200
    assert client.get("/me", headers=bearer(token)).status_code == 401


def test_other_sessions_of_other_users_keep_working(client: TestClient, signing_key: SigningKey) -> None:
    luigi = mint(user_claims(sid="session-of-luigi", sub="0b5c6e1a-user-luigi"), signing_key)
    assert logout(client, logout_token(signing_key)).status_code == 200
    assert client.get("/me", headers=bearer(luigi)).status_code == 200


def test_a_subject_logout_ends_every_token_of_the_subject_issued_up_to_the_logout(
    client: TestClient, signing_key: SigningKey
) -> None:
    now = int(time.time())
    other_device = mint(user_claims(sid="another-session", iat=now - 60), signing_key)
    logged_in_again = mint(user_claims(sid="new-session", iat=now + 5), signing_key)

    assert logout(client, logout_token(signing_key, sid=None, iat=now)).status_code == 200

    assert client.get("/me", headers=bearer(other_device)).status_code == 401
    assert client.get("/me", headers=bearer(logged_in_again)).status_code == 200


def test_a_logout_naming_sid_and_sub_ends_the_subjects_other_sessions_too(
    client: TestClient, signing_key: SigningKey
) -> None:
    # Keycloak sends one logout token per client naming one session when an admin ends them all.
    other_session = mint(user_claims(sid="another-session", iat=int(time.time()) - 30), signing_key)
    assert logout(client, logout_token(signing_key)).status_code == 200
    assert client.get("/me", headers=bearer(other_session)).status_code == 401


def test_a_replayed_logout_token_is_refused(client: TestClient, signing_key: SigningKey) -> None:
    token = logout_token(signing_key)
    assert logout(client, token).status_code == 200
    replay = logout(client, token)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_request"
    assert "jti" in replay.json()["error_description"]


def _other_key() -> SigningKey:
    return SigningKey.rsa("kid-rsa-1")  # the realm's kid, not the realm's key


INVALID: dict[str, Any] = {
    "wrong issuer": lambda key: logout_token(key, iss="https://evil.example.test/realms/demo"),
    "audience not in logout_audience": lambda key: logout_token(key, aud="api"),
    "audience missing": lambda key: logout_token(key, aud=None),
    "audience of JSON objects": lambda key: logout_token(key, aud=[{"client": "web"}, ["web"]]),
    "signed by another key": lambda key: logout_token(_other_key()),
    "unsigned (alg none)": lambda key: logout_token(key).rsplit(".", 1)[0] + ".",
    "access token typ": lambda key: logout_token(key, header={"typ": "JWT"}),
    "no typ": lambda key: logout_token(key, header={"typ": None}),
    "iat too old": lambda key: logout_token(key, iat=int(time.time()) - 600),
    "iat in the future": lambda key: logout_token(key, iat=int(time.time()) + 600),
    "iat missing": lambda key: logout_token(key, iat=None),
    "expired": lambda key: logout_token(key, exp=int(time.time()) - 300),
    "no events": lambda key: logout_token(key, events=None),
    "events without the logout event": lambda key: logout_token(key, events={"other": {}}),
    "logout event not an object": lambda key: logout_token(
        key, events={"http://schemas.openid.net/event/backchannel-logout": "yes"}
    ),
    "neither sid nor sub": lambda key: logout_token(key, sid=None, sub=None),
    "a nonce": lambda key: logout_token(key, nonce="n-0S6_WzA2Mj"),
    "no jti": lambda key: logout_token(key, jti=None),
    "not a JWT": lambda key: "not-a-token",
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_an_invalid_logout_token_is_refused_with_400_and_revokes_nothing(
    case: str, client: TestClient, auth: KeycloakAuth, signing_key: SigningKey
) -> None:
    token = mint(user_claims(sid="session-of-mario"), signing_key)

    response = logout(client, INVALID[case](signing_key))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.headers["cache-control"] == "no-store"
    assert len(auth.revocations) == 0
    assert client.get("/me", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", "application/x-www-form-urlencoded"),
        (b"logout_token=a&logout_token=b", "application/x-www-form-urlencoded"),
        (b'{"logout_token": "x"}', "application/json"),
        (b"\xff\xfe", "application/x-www-form-urlencoded"),
        (b"logout_token=" + b"a" * 70_000, "application/x-www-form-urlencoded"),
    ],
    ids=["empty", "two tokens", "json", "not ascii", "too large"],
)
def test_a_request_that_is_not_a_logout_form_is_400(client: TestClient, content: bytes, content_type: str) -> None:
    response = client.post(ROUTE, content=content, headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_the_router_cannot_be_created_without_logout_audience(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, object]
) -> None:
    auth = KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client())
    with pytest.raises(ConfigurationError, match="KEYCLOAK_LOGOUT_AUDIENCE"):
        auth.backchannel_logout_router()


def test_logout_audience_reads_a_comma_separated_list(
    settings_values: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYCLOAK_LOGOUT_AUDIENCE", "web, mobile")
    settings = KeycloakSettings(**settings_values)
    assert settings.logout_audience == ("web", "mobile")


@pytest.mark.parametrize("path", [ROUTE, "/auth/keycloak/logout"])
def test_the_middleware_lets_the_logout_route_through_without_a_bearer_token(
    auth: KeycloakAuth, signing_key: SigningKey, path: str
) -> None:
    app = FastAPI(lifespan=auth.lifespan)
    app.include_router(auth.backchannel_logout_router(path=path))
    app.add_middleware(KeycloakMiddleware, auth=auth)

    @app.get("/me")
    async def me() -> dict[str, str]:
        return {}

    token = mint(user_claims(sid="session-of-mario"), signing_key)
    with TestClient(app) as client:
        assert client.get("/me", headers=bearer(token)).status_code == 200
        assert client.get("/me").status_code == 401  # everything else still needs a token
        assert client.post("/auth/keycloak/other", data={}).status_code == 401
        assert logout(client, logout_token(signing_key), path).status_code == 200
        assert client.get("/me", headers=bearer(token)).status_code == 401


def test_a_logout_path_must_be_absolute(auth: KeycloakAuth) -> None:
    with pytest.raises(ConfigurationError, match="must start with /"):
        auth.backchannel_logout_router(path="backchannel-logout")


def test_a_logout_while_keycloak_is_down_with_an_unknown_key_is_503_not_500(
    fake_keycloak: FakeKeycloak, client: TestClient
) -> None:
    fake_keycloak.down = True
    response = logout(client, logout_token(SigningKey.rsa("kid-unknown")))
    assert response.status_code in (400, 503)
    assert response.json()["error"] in ("invalid_request", "temporarily_unavailable")
