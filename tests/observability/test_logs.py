"""Refusals and calls to Keycloak as a JSON log pipeline sees them: the `extra` fields.

A JSON formatter, as a user would configure (every non-standard record attribute becomes a
field), writes the library's records; the tests read the JSON lines back.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from fastapi_kc import (
    KeycloakAuth,
    KeycloakMiddleware,
    KeycloakSettings,
    ServiceTokenClient,
    TokenRequestError,
)
from tests.observability.conftest import build_app
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import SigningKey, mint, user_claims

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document = {"level": record.levelname, "message": record.getMessage()}
        document.update({key: value for key, value in vars(record).items() if key not in _STANDARD})
        return json.dumps(document)


@pytest.fixture
def log_lines() -> Iterator[list[dict[str, Any]]]:
    """The JSON documents written for the `fastapi_kc` logger during the test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("fastapi_kc")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    lines: list[dict[str, Any]] = []
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(level)


def read(stream_lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    handler = next(h for h in logging.getLogger("fastapi_kc").handlers if isinstance(h.formatter, JsonFormatter))
    assert isinstance(handler, logging.StreamHandler)
    stream_lines[:] = [json.loads(line) for line in handler.stream.getvalue().splitlines()]
    return stream_lines


@pytest.fixture
def auth(fake_keycloak: FakeKeycloak, settings_values: dict[str, Any]) -> KeycloakAuth:
    settings = KeycloakSettings(**settings_values, jwks_cooldown_seconds=0)
    return KeycloakAuth(settings, http_client=fake_keycloak.client())


@pytest.fixture
def client(auth: KeycloakAuth) -> Iterator[TestClient]:
    app = build_app(auth, middleware=True, lifespan=False)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()

    with TestClient(app) as client:
        yield client


def refusals(lines: list[dict[str, Any]], reason: str) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("reason") == reason]


def test_a_refused_token_is_logged_with_reason_status_request_key_and_whose_token(
    client: TestClient, log_lines: list[dict[str, Any]], signing_key: SigningKey
) -> None:
    token = mint(user_claims(exp=1), signing_key)
    assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    (line,) = refusals(read(log_lines), "expired")
    assert {k: line[k] for k in ("status", "method", "path", "kid", "subject", "client")} == {
        "status": 401,
        "method": "GET",
        "path": "/me",
        "kid": signing_key.kid,
        "subject": "0b5c6e1a-user-mario",
        "client": "web",
    }
    assert "issuer" not in line  # shown only where it explains the refusal
    assert line["message"].startswith("token refused: reason=expired status=401: ")  # the human line as before
    assert token not in json.dumps(log_lines)


def test_an_issuer_refusal_names_the_tokens_issuer(
    client: TestClient, log_lines: list[dict[str, Any]], signing_key: SigningKey
) -> None:
    token = mint(user_claims(iss="https://other.example.test/realms/demo"), signing_key)
    assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    (line,) = refusals(read(log_lines), "issuer")
    assert line["issuer"] == "https://other.example.test/realms/demo" and line["level"] == "WARNING"


def test_a_403_names_method_path_subject_and_client(
    client: TestClient, log_lines: list[dict[str, Any]], signing_key: SigningKey
) -> None:
    token = mint(user_claims(), signing_key)
    assert client.get("/admin", headers={"Authorization": f"Bearer {token}"}).status_code == 403
    (line,) = refusals(read(log_lines), "forbidden")
    assert (line["status"], line["method"], line["path"], line["subject"], line["client"]) == (
        403, "GET", "/admin", "0b5c6e1a-user-mario", "web",
    )  # fmt: skip
    assert " on GET /admin: requires realm role(s) admin" in line["message"]


def test_a_request_without_a_token_is_a_debug_line_with_its_fields(
    client: TestClient, log_lines: list[dict[str, Any]]
) -> None:
    assert client.get("/me").status_code == 401
    (line,) = refusals(read(log_lines), "no_token")
    assert (line["level"], line["status"], line["method"], line["path"]) == ("DEBUG", 401, "GET", "/me")


def test_a_refused_websocket_handshake_is_logged_as_such(client: TestClient, log_lines: list[dict[str, Any]]) -> None:
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws"):
        pass
    (line,) = refusals(read(log_lines), "no_token")
    assert (line["method"], line["path"]) == ("WEBSOCKET", "/ws")


def test_claim_values_and_paths_reach_the_fields_escaped(
    client: TestClient, log_lines: list[dict[str, Any]], signing_key: SigningKey
) -> None:
    hostile = "mario\n[INFO] admin logged in\x1b[2J\u2028"
    token = mint(user_claims(sub=hostile, azp="web\r\n"), signing_key)
    assert client.get("/admin%0a%1b[2J", headers={"Authorization": f"Bearer {token}"}).status_code == 404
    assert client.get("/admin", headers={"Authorization": f"Bearer {token}"}).status_code == 403
    lines = read(log_lines)
    (line,) = refusals(lines, "forbidden")
    assert line["subject"] == "mario\\n[INFO] admin logged in\\x1b[2J\\u2028" and line["client"] == "web\\r\\n"
    fields = [str(value) for entry in lines for key, value in entry.items() if key != "message"]
    assert all(value.isprintable() for value in fields), fields


def test_key_set_fetches_and_service_token_requests_are_logged_with_their_outcome(
    client: TestClient,
    log_lines: list[dict[str, Any]],
    fake_keycloak: FakeKeycloak,
    settings_values: dict[str, Any],
    signing_key: SigningKey,
) -> None:
    rotated = SigningKey.rsa("kid-rotated")
    fake_keycloak.keys.append(rotated)
    assert client.get("/me", headers={"Authorization": f"Bearer {mint(user_claims(), rotated)}"}).status_code == 200

    async def refused_token() -> None:
        wrong = KeycloakSettings(**{**settings_values, "client_secret": "wrong"})
        async with ServiceTokenClient(wrong, http_client=fake_keycloak.client()) as tokens:
            with pytest.raises(TokenRequestError):
                await tokens.get_token()

    asyncio.run(refused_token())
    lines = read(log_lines)
    fetches = [line for line in lines if line.get("event") == "key_set_fetch"]
    assert fetches[-1]["result"] == "ok" and fetches[-1]["kids"] == sorted([signing_key.kid, "kid-rotated"])
    assert fetches[-1]["url"].endswith("/protocol/openid-connect/certs")
    requests = [line for line in lines if line.get("event") == "service_token_request"]
    assert {(line["result"], line["status"], line["client"]) for line in requests} >= {("refused", 401, "shop-api")}
    assert "wrong" not in json.dumps(lines)  # never the secret


def test_a_token_of_an_issuer_no_auth_trusts_is_logged_once_with_the_request(
    auth: KeycloakAuth, fake_keycloak: FakeKeycloak, settings_values: dict[str, Any], log_lines: list[dict[str, Any]]
) -> None:
    partner_issuer = "https://partner-auth.example.test/realms/demo"
    partner_keycloak = FakeKeycloak(keys=[SigningKey.rsa("kid-partner")], discovery_issuer=partner_issuer)
    partner_values = {**settings_values, "public_url": "https://partner-auth.example.test"}
    partner = KeycloakAuth(KeycloakSettings(**partner_values), http_client=partner_keycloak.client())
    app = FastAPI()
    app.add_middleware(KeycloakMiddleware, auth=[auth, partner])
    stranger = mint(user_claims(iss="https://stranger.example.test/realms/demo"), SigningKey.rsa("kid-stranger"))
    with TestClient(app) as client:
        assert client.get("/orders", headers={"Authorization": f"Bearer {stranger}"}).status_code == 401
    (line,) = refusals(read(log_lines), "issuer")
    assert (line["status"], line["method"], line["path"]) == (401, "GET", "/orders")
    assert line["message"] == "token refused: reason=issuer status=401: token issuer is not one this service trusts"


def test_keycloaks_error_codes_and_key_ids_reach_the_fields_escaped(
    client: TestClient,
    log_lines: list[dict[str, Any]],
    fake_keycloak: FakeKeycloak,
    settings_values: dict[str, Any],
) -> None:
    # Both come from the server (or whatever answers in its place): a plain `%(error)s` formatter
    # must not be able to print a forged line from them.
    hostile = SigningKey.rsa("kid\n[PASS] forged")
    fake_keycloak.keys.append(hostile)
    client.get("/me", headers={"Authorization": f"Bearer {mint(user_claims(), hostile)}"})

    def forged_error(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith("/token"):
            return httpx.Response(400, json={"error": "invalid_grant\n[PASS] forged"})
        return None

    fake_keycloak.override = forged_error

    async def refused_token() -> None:
        async with ServiceTokenClient(
            KeycloakSettings(**settings_values), http_client=fake_keycloak.client()
        ) as tokens:
            with pytest.raises(TokenRequestError):
                await tokens.get_token()

    asyncio.run(refused_token())
    lines = read(log_lines)
    [kids] = [line["kids"] for line in lines if line.get("event") == "key_set_fetch" and len(line["kids"]) == 2]
    assert "kid\\n[PASS] forged" in kids
    errors = [line["error"] for line in lines if line.get("event") == "service_token_request" and line.get("error")]
    assert errors and all(error == "invalid_grant\\n[PASS] forged" for error in errors)
