"""A hostile or broken key server at start-up: the service refuses to start, and says why.

Each answer below replaces Keycloak's key set (or discovery document). Start-up must fail with
a `ConfigurationError` naming the URL and the problem; nothing is followed, nothing unbounded is
read: the counting streams show how many bytes were pulled.
"""

from __future__ import annotations

import gzip
import json
import tracemalloc

import httpx
import pytest

from fastapi_kc._http import MAX_DOCUMENT_BYTES
from tests.hostile.servers import ChunkStream, CountingStream, certs, discovery, start_failure, start_ok
from tests.support.fake_keycloak import CERTS_PATH, FakeKeycloak
from tests.support.tokens import INTERNAL_URL, SigningKey

JWKS_URL = f"{INTERNAL_URL}{CERTS_PATH}"
HTML = b"<!DOCTYPE html><html><head><title>Sign in - Corporate SSO</title></head><body>...</body></html>"


@pytest.fixture
def fake(signing_key: SigningKey) -> FakeKeycloak:
    return FakeKeycloak(keys=[signing_key])


def test_control_the_fake_keycloak_starts(fake: FakeKeycloak, signing_key: SigningKey) -> None:
    # The same fixture without an override starts: each failure below is the override's doing.
    assert start_ok(fake) == [signing_key.kid]


@pytest.mark.parametrize("where", ["certs", "discovery"])
def test_an_html_page_is_named_as_not_json(fake: FakeKeycloak, where: str) -> None:
    answer = {"certs": certs, "discovery": discovery}[where]
    fake.override = answer(lambda: httpx.Response(200, content=HTML, headers={"Content-Type": "text/html"}))
    message = str(start_failure(fake))
    assert "not a JSON document" in message
    assert "text/html" in message
    assert "Sign in" in message  # the start of the body, so the operator recognises the page


@pytest.mark.parametrize(
    "body",
    [b"{", b'{"keys": [', b"\xff\xfe\x00", b"", b"null,", b"[" * 100_000 + b"]" * 100_000],
    ids=["open-brace", "truncated", "binary", "empty", "trailing-comma", "nesting-bomb"],
)
def test_invalid_json_is_named(fake: FakeKeycloak, body: bytes) -> None:
    fake.override = certs(lambda: httpx.Response(200, content=body, headers={"Content-Type": "application/json"}))
    message = str(start_failure(fake))
    assert "not a JSON document" in message
    assert JWKS_URL in message


@pytest.mark.parametrize(
    "document",
    [[], {"keys": {}}, {"keys": None}, {"key": []}, "keys", 1],
    ids=["array", "keys-object", "keys-null", "no-keys-member", "string", "number"],
)
def test_json_that_is_not_a_jwks_is_named(fake: FakeKeycloak, document: object) -> None:
    fake.override = certs(lambda: httpx.Response(200, json=document))
    message = str(start_failure(fake))
    assert "not a JWKS document" in message
    assert JWKS_URL in message


def test_a_50_mb_body_is_abandoned_after_the_limit(fake: FakeKeycloak) -> None:
    stream = CountingStream(50 * 1024 * 1024)
    fake.override = certs(lambda: httpx.Response(200, stream=stream, headers={"Content-Type": "application/json"}))
    tracemalloc.start()
    try:
        message = str(start_failure(fake))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"larger than {MAX_DOCUMENT_BYTES} bytes" in message
    assert stream.pulled <= MAX_DOCUMENT_BYTES + stream.chunk
    assert stream.closed
    assert peak < 8 * MAX_DOCUMENT_BYTES, peak


def test_a_declared_50_mb_body_is_not_read_at_all(fake: FakeKeycloak) -> None:
    stream = CountingStream(50 * 1024 * 1024)
    headers = {"Content-Type": "application/json", "Content-Length": str(50 * 1024 * 1024)}
    fake.override = certs(lambda: httpx.Response(200, stream=stream, headers=headers))
    assert "larger than" in str(start_failure(fake))
    assert stream.pulled == 0


def test_a_body_longer_than_its_content_length_is_still_bounded(fake: FakeKeycloak) -> None:
    stream = CountingStream(50 * 1024 * 1024)
    headers = {"Content-Type": "application/json", "Content-Length": "100"}
    fake.override = certs(lambda: httpx.Response(200, stream=stream, headers=headers))
    start_failure(fake)
    assert stream.pulled <= MAX_DOCUMENT_BYTES + stream.chunk


def _gzip_bomb(size: int) -> bytes:
    return gzip.compress(b" " * size, compresslevel=9)


def test_a_gzip_bomb_is_bounded_in_memory(fake: FakeKeycloak) -> None:
    bomb = _gzip_bomb(64 * 1024 * 1024)  # ~64 kB on the wire: what one network read can bring
    stream = ChunkStream([bomb])
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    fake.override = certs(lambda: httpx.Response(200, stream=stream, headers=headers))
    tracemalloc.start()
    try:
        message = str(start_failure(fake))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "larger than" in message
    assert peak < 8 * MAX_DOCUMENT_BYTES, f"peak {peak / 1e6:.0f} MB for a {len(bomb) / 1e3:.0f} kB body"


def test_a_gzip_bomb_in_small_network_reads_is_refused(fake: FakeKeycloak) -> None:
    # Delivered in 1 kB reads (each inflating to about 1 MB), the limit stops the fetch early.
    bomb = _gzip_bomb(64 * 1024 * 1024)
    stream = ChunkStream([bomb[i : i + 1024] for i in range(0, len(bomb), 1024)])
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    fake.override = certs(lambda: httpx.Response(200, stream=stream, headers=headers))
    assert "larger than" in str(start_failure(fake))
    assert stream.pulled <= 8 * 1024


def test_a_trickling_body_is_cut_off_by_the_timeout(fake: FakeKeycloak) -> None:
    # An endless body, one byte at a time: only the overall timeout can end it.
    stream = CountingStream(None, chunk=1, delay=0.005)
    fake.override = certs(lambda: httpx.Response(200, stream=stream, headers={"Content-Type": "application/json"}))
    message = str(start_failure(fake, http_timeout_seconds=0.3))
    assert "no answer within 0.3 s" in message
    assert JWKS_URL in message
    assert stream.closed
    assert fake.certs_hits == 1  # one request, not a retry loop


@pytest.mark.parametrize(
    ("status", "location"),
    [
        (302, "https://attacker.example/realms/demo/protocol/openid-connect/certs"),
        (301, "https://attacker.example/certs"),
        (307, f"{INTERNAL_URL}/realms/other/protocol/openid-connect/certs"),
        (308, "//attacker.example/certs"),
        (303, "file:///etc/passwd"),
    ],
    ids=["302-other-origin", "301-other-origin", "307-same-origin-other-realm", "308-scheme-relative", "303-file"],
)
def test_a_redirect_is_not_followed_and_is_named(fake: FakeKeycloak, status: int, location: str) -> None:
    fake.override = certs(lambda: httpx.Response(status, headers={"Location": location}))
    message = str(start_failure(fake))
    assert "redirects (redirects are not followed)" in message
    assert location in message
    assert [str(r.url) for r in fake.requests if r.url.path != "/realms/demo/.well-known/openid-configuration"] == [
        JWKS_URL
    ]


def test_a_discovery_redirect_to_another_origin_is_not_followed(fake: FakeKeycloak) -> None:
    fake.override = discovery(lambda: httpx.Response(302, headers={"Location": "https://attacker.example/"}))
    assert "redirects" in str(start_failure(fake))
    assert all(r.url.host == "keycloak.internal" for r in fake.requests)


def test_a_json_body_with_a_huge_number_is_named(fake: FakeKeycloak) -> None:
    body = b'{"keys": [], "x": ' + b"9" * 100_000 + b"}"
    fake.override = certs(lambda: httpx.Response(200, content=body, headers={"Content-Type": "application/json"}))
    assert "not a JSON document" in str(start_failure(fake))


def test_control_a_document_just_under_the_limit_is_read(fake: FakeKeycloak, signing_key: SigningKey) -> None:
    # The bound is a limit, not a refusal of everything large: a padded but valid JWKS is fine.
    document = {"keys": [signing_key.jwk()], "padding": " " * (MAX_DOCUMENT_BYTES - 2000)}
    body = json.dumps(document).encode()
    assert MAX_DOCUMENT_BYTES - 4096 < len(body) <= MAX_DOCUMENT_BYTES
    fake.override = certs(lambda: httpx.Response(200, content=body))
    assert start_ok(fake) == [signing_key.kid]
