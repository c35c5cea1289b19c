"""What `fastapi_kc` logs: every refusal with its reason code, every key-set fetch, and never a secret.

Tokens and the client secret are credentials: they must not reach a log record, an exception
message or a repr, whatever happens (success, refusal, failed start, failed token request).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import traceback
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from fastapi_kc import (
    ConfigurationError,
    KeycloakAuth,
    KeycloakMiddleware,
    KeycloakSettings,
    Principal,
    ServiceTokenClient,
    TokenRequestError,
)
from tests.support.fake_keycloak import CLIENT_ID, CLIENT_SECRET, FakeKeycloak
from tests.support.tokens import ISSUER, SigningKey, mint, user_claims

LOGGER = "fastapi_kc"


@pytest.fixture
def auth(fake_keycloak: FakeKeycloak, settings_values: dict[str, object]) -> KeycloakAuth:
    values = {**settings_values, "jwks_cooldown_seconds": 0}
    return KeycloakAuth(KeycloakSettings(**values), http_client=fake_keycloak.client())


def build_app(auth: KeycloakAuth) -> FastAPI:
    app = FastAPI(lifespan=auth.lifespan)

    @app.get("/me")
    async def me(principal: Principal = Depends(auth.principal)) -> dict[str, Any]:
        return {"subject": principal.subject, "repr": repr(principal)}

    @app.get("/admin")
    async def admin(principal: Principal = Depends(auth.require_roles("admin"))) -> dict[str, Any]:
        return {"subject": principal.subject}

    return app


@pytest.fixture
def client(auth: KeycloakAuth) -> Iterator[TestClient]:
    with TestClient(build_app(auth)) as client:
        yield client


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name.startswith(LOGGER)]


# --- what is logged ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "make_headers", "path"),
    [
        pytest.param("no_token", lambda key: {}, "/me", id="no-token"),
        pytest.param(
            "header_repeated",
            lambda key: [("Authorization", "Bearer a.b.c"), ("Authorization", "Bearer d.e.f")],
            "/me",
            id="two-headers",
        ),
        pytest.param("header_malformed", lambda key: {"Authorization": "Bearer a,b"}, "/me", id="illegal-characters"),
        pytest.param(
            "expired", lambda key: {"Authorization": f"Bearer {mint(user_claims(exp=1), key)}"}, "/me", id="expired"
        ),
        pytest.param(
            "signature",
            lambda key: {"Authorization": f"Bearer {mint(user_claims(), SigningKey.rsa(key.kid))}"},
            "/me",
            id="forged",
        ),
        pytest.param(
            "forbidden", lambda key: {"Authorization": f"Bearer {mint(user_claims(), key)}"}, "/admin", id="no-role"
        ),
    ],
)
def test_every_refusal_is_logged_with_its_reason_code(
    client: TestClient,
    caplog: pytest.LogCaptureFixture,
    signing_key: SigningKey,
    reason: str,
    make_headers: Any,
    path: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    headers = make_headers(signing_key)
    caplog.clear()
    assert client.get(path, headers=headers).status_code in (401, 403)
    assert any(f"reason={reason}" in message for message in messages(caplog)), messages(caplog)


def test_a_refusal_for_keys_keycloak_cannot_serve_is_logged_with_its_reason_code(
    client: TestClient, caplog: pytest.LogCaptureFixture, fake_keycloak: FakeKeycloak
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    fake_keycloak.down = True
    token = mint(user_claims(), SigningKey.rsa("kid-not-yet-published"))
    assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 503
    assert any("reason=keys_unavailable" in message for message in messages(caplog)), messages(caplog)


def test_a_key_set_fetch_is_logged_with_the_keys_it_brought(
    auth: KeycloakAuth, caplog: pytest.LogCaptureFixture, signing_key: SigningKey
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    with TestClient(build_app(auth)):
        pass
    assert any("key set fetched" in m and signing_key.kid in m for m in messages(caplog)), messages(caplog)


def test_a_failed_key_set_fetch_is_logged_as_a_warning(
    client: TestClient, caplog: pytest.LogCaptureFixture, fake_keycloak: FakeKeycloak
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    fake_keycloak.down = True
    client.get("/me", headers={"Authorization": f"Bearer {mint(user_claims(), SigningKey.rsa('kid-new'))}"})
    warnings = [r for r in caplog.records if r.name.startswith(LOGGER) and r.levelno == logging.WARNING]
    assert any("key set fetch failed" in r.getMessage() for r in warnings), messages(caplog)


# --- what is never logged ---------------------------------------------------------------------------


def everything_printed(caplog: pytest.LogCaptureFixture, errors: list[BaseException], objects: list[object]) -> str:
    """Every log record of any logger (message, arguments, traceback) and every error and repr."""
    texts: list[str] = []
    for record in caplog.records:
        texts.append(record.getMessage())
        texts.append(repr(record.args))
        if record.exc_info:
            texts.append("".join(traceback.format_exception(*record.exc_info)))
    for error in errors:
        texts.append("".join(traceback.format_exception(error)))
        texts.append(repr(error))
    texts.extend(repr(obj) for obj in objects)
    return "\n".join(texts)


def test_no_token_and_no_client_secret_ever_reaches_a_log_an_error_or_a_repr(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = fake_keycloak.keys[0]
    errors: list[BaseException] = []
    objects: list[object] = []
    tokens = {
        "valid": mint(user_claims(), key),
        "expired": mint(user_claims(exp=1), key),
        "forged": mint(user_claims(), SigningKey.rsa(key.kid)),
        "foreign-issuer": mint(user_claims(iss="https://evil.example.test/realms/demo"), key),
        "foreign-audience": mint(user_claims(aud="other-api"), key),
        "unknown-key": mint(user_claims(), SigningKey.rsa("kid-unknown")),
    }
    wrong_secret = "wrong-secret-c0ffee"

    # Success and refusals, through the middleware and the dependencies.
    auth = KeycloakAuth(
        KeycloakSettings(**settings_values, jwks_cooldown_seconds=0), http_client=fake_keycloak.client()
    )
    app = build_app(auth)
    app.add_middleware(KeycloakMiddleware, auth=auth)
    with TestClient(app) as client:
        statuses = {name: client.get("/me", headers={"Authorization": f"Bearer {t}"}) for name, t in tokens.items()}
        statuses["no-role"] = client.get("/admin", headers={"Authorization": f"Bearer {tokens['valid']}"})
        fake_keycloak.down = True
        statuses["outage"] = client.get("/me", headers={"Authorization": f"Bearer {tokens['unknown-key']}"})
        objects += [auth, auth.settings]
    fake_keycloak.down = False
    assert statuses.pop("valid").status_code == 200
    assert {name: response.status_code for name, response in statuses.items()} == {
        "expired": 401,
        "forged": 401,
        "foreign-issuer": 401,
        "foreign-audience": 401,
        "unknown-key": 401,
        "no-role": 403,
        "outage": 503,
    }

    # A failed start.
    fake_keycloak.discovery_issuer = "https://evil.example.test/realms/demo"
    failing = KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client())
    with pytest.raises(ConfigurationError) as start_failure, TestClient(build_app(failing)):
        pass
    errors.append(start_failure.value)
    fake_keycloak.discovery_issuer = ISSUER

    # The token endpoint: a token issued, then refused credentials, an outage, a Keycloak error.
    async def token_requests() -> None:
        good = ServiceTokenClient(KeycloakSettings(**settings_values), http_client=fake_keycloak.client())
        bad = ServiceTokenClient(
            KeycloakSettings(**{**settings_values, "client_secret": wrong_secret}), http_client=fake_keycloak.client()
        )
        objects.extend([good, bad, good.settings, bad.settings])
        async with good:
            tokens["service"] = await good.get_token()
        async with bad:
            try:
                await bad.get_token()
            except TokenRequestError as exc:
                errors.append(exc)
        fake_keycloak.down = True
        async with ServiceTokenClient(
            KeycloakSettings(**settings_values), http_client=fake_keycloak.client(), max_attempts=1
        ) as down:
            try:
                await down.get_token()
            except TokenRequestError as exc:
                errors.append(exc)
        fake_keycloak.down = False
        fake_keycloak.token_failures = [httpx.Response(500, json={"error": "unknown_error"})]
        async with ServiceTokenClient(
            KeycloakSettings(**settings_values), http_client=fake_keycloak.client(), max_attempts=1
        ) as failing_endpoint:
            try:
                await failing_endpoint.get_token()
            except TokenRequestError as exc:
                errors.append(exc)

    asyncio.run(token_requests())
    assert [type(e) for e in errors] == [ConfigurationError] + [TokenRequestError] * 3

    printed = everything_printed(caplog, errors, objects)
    forbidden = {f"token {name}": token for name, token in tokens.items()}
    forbidden |= {f"signature of token {name}": token.rsplit(".", 1)[-1] for name, token in tokens.items()}
    for secret in (CLIENT_SECRET, wrong_secret):
        forbidden[f"secret {secret}"] = secret
        forbidden[f"basic credentials with {secret}"] = base64.b64encode(f"{CLIENT_ID}:{secret}".encode()).decode()
    leaked = [what for what, value in forbidden.items() if value in printed]
    assert leaked == []
    assert "token refused" in printed and "service token request failed" in printed  # the run did log
