"""Only what is decoded is advertised (issue 10, item 9).

With `brotli` and `zstandard` installed (they are, by the `test` extra), httpx advertises
`Accept-Encoding: gzip, deflate, br, zstd` by default. Bodies from Keycloak are inflated by
`_http.read_bounded`, which reads gzip and deflate only; a compressing proxy in front of Keycloak
that honours the header would answer `zstd` or `br`, and start-up would fail. Here a real HTTP
server on 127.0.0.1 compresses as such a proxy does, preferring the newest encoding offered.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import brotli
import httpx
import pytest
import zstandard

from fastapi_kc import KeycloakAuth, KeycloakSettings, ServiceTokenClient
from fastapi_kc._doctor import run_doctor
from fastapi_kc._doctor_report import Status
from tests.support.fake_keycloak import CERTS_PATH, CLIENT_ID, CLIENT_SECRET, DISCOVERY_PATH, TOKEN_PATH, FakeKeycloak
from tests.support.tokens import AUDIENCE, PUBLIC_URL, REALM, mint, service_claims, user_claims

# Newest first, as a proxy configured for all four prefers them.
ENCODERS: list[tuple[str, Callable[[bytes], bytes]]] = [
    ("zstd", zstandard.ZstdCompressor().compress),
    ("br", brotli.compress),
    ("gzip", gzip.compress),
    ("deflate", zlib.compress),
]


class CompressingRealm:
    """Discovery, key set and token endpoint of `fake`, compressed by what each request accepts."""

    def __init__(self, fake: FakeKeycloak) -> None:
        self.fake = fake
        self.accepted: list[str | None] = []  # each request's Accept-Encoding
        self.sent: list[str] = []  # each answer's Content-Encoding
        self.service_token = mint(service_claims(CLIENT_ID), fake.keys[0])

    def answer(self, method: str, path: str) -> dict[str, Any] | None:
        if method == "GET" and path == DISCOVERY_PATH:
            return self.fake.discovery()
        if method == "GET" and path == CERTS_PATH:
            return self.fake.jwks()
        if method == "POST" and path == TOKEN_PATH:
            return {"access_token": self.service_token, "expires_in": 300, "token_type": "Bearer"}
        return None

    def compress(self, body: bytes, accept_encoding: str | None) -> tuple[str, bytes]:
        offered = {part.split(";")[0].strip().lower() for part in (accept_encoding or "").split(",")}
        for name, encode in ENCODERS:
            if name in offered:
                return name, encode(body)
        return "identity", body


@pytest.fixture
def realm(fake_keycloak: FakeKeycloak) -> Iterator[tuple[CompressingRealm, str]]:
    """The compressing realm and its URL."""
    state = CompressingRealm(fake_keycloak)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            accept_encoding = self.headers.get("Accept-Encoding")
            state.accepted.append(accept_encoding)
            document = state.answer(self.command, self.path)
            encoding, body = state.compress(json.dumps(document or {"error": "not found"}).encode(), accept_encoding)
            state.sent.append(encoding)
            self.send_response(200 if document is not None else 404)
            self.send_header("Content-Type", "application/json")
            if encoding != "identity":
                self.send_header("Content-Encoding", encoding)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _serve

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def settings(url: str) -> KeycloakSettings:
    return KeycloakSettings(
        public_url=PUBLIC_URL, internal_url=url, realm=REALM, audience=AUDIENCE, client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )  # fmt: skip


def test_control_httpx_itself_would_advertise_brotli_and_zstandard() -> None:
    """The precondition of this module: both packages installed, as a user's environment may have them."""
    assert {"br", "zstd"} <= {
        part.strip() for part in httpx.Headers(httpx.AsyncClient().headers)["Accept-Encoding"].split(",")
    }


@pytest.mark.parametrize("injected", [False, True], ids=["own-client", "user-s-httpx-client"])
def test_start_up_and_verification_work_behind_a_compressing_proxy(
    realm: tuple[CompressingRealm, str], fake_keycloak: FakeKeycloak, injected: bool
) -> None:
    state, url = realm
    token = mint(user_claims(), fake_keycloak.keys[0])

    async def main() -> str:
        http = httpx.AsyncClient() if injected else None  # a user's client keeps httpx's default header
        try:
            async with KeycloakAuth(settings(url), http_client=http) as auth:
                return (await auth.verify(token)).subject
        finally:
            if http is not None:
                await http.aclose()

    assert asyncio.run(main()) == "0b5c6e1a-user-mario"
    assert state.accepted and set(state.accepted) == {"gzip, deflate"}
    assert set(state.sent) == {"gzip"}


@pytest.mark.parametrize("injected", [False, True], ids=["own-client", "user-s-httpx-client"])
def test_service_tokens_are_read_behind_a_compressing_proxy(
    realm: tuple[CompressingRealm, str], injected: bool
) -> None:
    state, url = realm

    async def main() -> str:
        http = httpx.AsyncClient() if injected else None
        try:
            async with ServiceTokenClient(settings(url), http_client=http) as tokens:
                return await tokens.get_token()
        finally:
            if http is not None:
                await http.aclose()

    assert asyncio.run(main()) == state.service_token
    assert state.accepted == ["gzip, deflate"] and state.sent == ["gzip"]


def test_the_doctor_reads_the_realm_behind_a_compressing_proxy(realm: tuple[CompressingRealm, str]) -> None:
    state, url = realm
    report = asyncio.run(run_doctor(settings(url), token=None, client_credentials=True, http_client=None))
    failed = [check.render() for check in report.checks if check.status is Status.FAIL]
    assert failed == [] and report.get("keys").status is Status.PASS
    assert set(state.accepted) == {"gzip, deflate"}
