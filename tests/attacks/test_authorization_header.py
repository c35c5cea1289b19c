"""Authorization header variants (RFC 6750 §2.1, RFC 9110 §11): only one well-formed bearer header counts.

Raw ASGI headers, so that bytes an HTTP client refuses to send (NUL, CR LF, 0xFF) arrive as a
lenient server could deliver them. Every refusal is a 401 with a Bearer challenge, through the
dependency app and through the middleware app, on every protected path.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from fastapi_kc import KeycloakAuth
from tests.attacks.harness import Target, dependency_app
from tests.support.tokens import SigningKey, mint, user_claims

Build = Callable[[str], list[tuple[bytes, bytes]]]


def auth(value: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", value)]


@pytest.fixture
def token(signing_key: SigningKey) -> str:
    return mint(user_claims(), signing_key)


ACCEPTED: dict[str, Build] = {
    "canonical": lambda t: auth(f"Bearer {t}".encode()),
    "lower-case-scheme": lambda t: auth(f"bearer {t}".encode()),
    "upper-case-scheme": lambda t: auth(f"BEARER {t}".encode()),
    "two-spaces-1*SP": lambda t: auth(f"Bearer  {t}".encode()),
    "spaces-around-the-value": lambda t: auth(f"  Bearer {t}  ".encode()),
}


@pytest.mark.parametrize("variant", list(ACCEPTED))
def test_control_well_formed_headers_are_accepted(target: Target, token: str, variant: str) -> None:
    for app in target.apps:
        assert target.get("/me", ACCEPTED[variant](token), app=app).status == 200


REFUSED: dict[str, Build] = {
    "no-header": lambda t: [],
    "empty-value": lambda t: auth(b""),
    "scheme-only": lambda t: auth(b"Bearer"),
    "scheme-and-space": lambda t: auth(b"Bearer "),
    "scheme-and-spaces": lambda t: auth(b"Bearer    "),
    "two-valid-headers": lambda t: auth(f"Bearer {t}".encode()) * 2,
    "valid-then-garbage": lambda t: auth(f"Bearer {t}".encode()) + auth(b"Bearer garbage"),
    "garbage-then-valid": lambda t: auth(b"Bearer garbage") + auth(f"Bearer {t}".encode()),
    "valid-then-basic": lambda t: auth(f"Bearer {t}".encode()) + auth(b"Basic dXNlcjpwYXNz"),
    "two-tokens-in-one-header": lambda t: auth(f"Bearer {t}, Bearer {t}".encode()),
    "token-then-space-and-more": lambda t: auth(f"Bearer {t} extra".encode()),
    "basic-scheme": lambda t: auth(b"Basic dXNlcjpwYXNz"),
    "basic-scheme-carrying-the-token": lambda t: auth(f"Basic {t}".encode()),
    "token-scheme": lambda t: auth(f"Token {t}".encode()),
    "jwt-scheme": lambda t: auth(f"JWT {t}".encode()),
    "no-scheme": lambda t: auth(t.encode()),
    "scheme-glued": lambda t: auth(f"Bearer{t}".encode()),
    "scheme-with-equals": lambda t: auth(f"Bearer={t}".encode()),
    "scheme-misspelt": lambda t: auth(f"Bearerr {t}".encode()),
    "tab-separator": lambda t: auth(f"Bearer\t{t}".encode()),
    "quoted-token": lambda t: auth(f'Bearer "{t}"'.encode()),
    "trailing-comma": lambda t: auth(f"Bearer {t},".encode()),
    "nul-in-token": lambda t: auth(f"Bearer {t[:10]}\x00{t[10:]}".encode()),
    "nul-after-token": lambda t: auth(f"Bearer {t}\x00".encode()),
    "crlf-after-token": lambda t: auth(f"Bearer {t}\r\nX-Admin: 1".encode()),
    "lf-inside-token": lambda t: auth(f"Bearer {t[:10]}\n{t[10:]}".encode()),
    "byte-0xff": lambda t: auth(f"Bearer {t}".encode() + b"\xff"),
    "utf-8-in-token": lambda t: auth(f"Bearer {t[:10]}\u00e9{t[10:]}".encode()),
    "del-character": lambda t: auth(f"Bearer {t}\x7f".encode()),
    "only-equals": lambda t: auth(b"Bearer ===="),
    "100-kB-token": lambda t: auth(b"Bearer " + b"A" * 100_000),
    "token-in-query-string-only": lambda t: [],  # the path gets ?access_token=...
    "token-in-cookie-only": lambda t: [(b"cookie", f"access_token={t}".encode())],
    "token-in-other-header": lambda t: [(b"x-authorization", f"Bearer {t}".encode())],
    "header-name-with-trailing-space": lambda t: [(b"authorization ", f"Bearer {t}".encode())],
    "proxy-authorization": lambda t: [(b"proxy-authorization", f"Bearer {t}".encode())],
}


@pytest.mark.parametrize("variant", list(REFUSED))
def test_a_malformed_or_misplaced_authorization_is_refused(target: Target, token: str, variant: str) -> None:
    headers = REFUSED[variant](token)
    for app in target.apps:
        for path in ("/me", "/admin", "/orders", f"/me?access_token={token}"):
            reply = target.get(path, headers, app=app)
            assert reply.status == 401, (app, path, reply.status, reply.body[:200])
            assert reply.headers["www-authenticate"].startswith('Bearer realm="demo"')


def test_refusal_descriptions_carry_no_header_bytes(target: Target, token: str) -> None:
    # A hostile header value must not travel back into the challenge (header injection).
    for variant in ("crlf-after-token", "quoted-token", "byte-0xff", "nul-in-token"):
        for app in target.apps:
            challenge = target.get("/me", REFUSED[variant](token), app=app).headers["www-authenticate"]
            assert token[:20] not in challenge
            assert not any(c in challenge for c in "\r\n\x00\xff")


def test_a_public_path_needs_no_header_and_ignores_a_bad_one(target: Target) -> None:
    for headers in ([], auth(b"Bearer garbage"), auth(b"\x00")):
        assert target.get("/health", headers, app="middleware").status == 200


@pytest.mark.parametrize("variant", ["two-valid-headers", "basic-scheme", "scheme-only", "quoted-token"])
def test_through_testclient_and_the_lifespan_the_same_refusals_hold(
    signing_key: SigningKey, token: str, variant: str
) -> None:
    # The real start-up path (FastAPI lifespan) and httpx's header handling, end to end.
    from tests.attacks.harness import build_settings
    from tests.support.fake_keycloak import FakeKeycloak

    fake = FakeKeycloak(keys=[signing_key])
    app = dependency_app(KeycloakAuth(build_settings(), http_client=fake.client()))
    headers = [(k.decode(), v.decode()) for k, v in REFUSED[variant](token)]
    with TestClient(app) as client:
        assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        response = client.get("/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="demo"')
