"""Keys offered by the token itself: `jwk`, `jku`, `x5u`, `x5c` (RFC 8725 §3.10; CVE-2018-0114).

Keys come from the realm's JWKS at the internal URL and nowhere else. Each forged token is
signed by the attacker's key and points at it; after verification, the fake Keycloak's request
log must show no request at all to any URL the token named (it also serves the internal host,
so a `jku` on that host would be recorded too).
"""

from __future__ import annotations

import base64
import datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from tests.attacks.harness import Target, realm_header
from tests.support.tokens import INTERNAL_URL, SigningKey, mint, user_claims

ATTACKER_URLS = {
    "external": "https://attacker.example/jwks.json",
    "internal-host": f"{INTERNAL_URL}/attacker/certs",
    "internal-certs-path-of-other-realm": f"{INTERNAL_URL}/realms/attacker/protocol/openid-connect/certs",
}


@pytest.fixture(scope="module")
def attacker() -> SigningKey:
    return SigningKey.rsa("kid-attacker")


def self_signed(key: SigningKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keycloak")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key.private, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def embedded(attacker: SigningKey, kind: str, url: str) -> dict[str, Any]:
    if kind == "jwk":
        return {"jwk": attacker.jwk()}
    if kind == "x5c":
        return {"x5c": [base64.b64encode(self_signed(attacker)).decode()]}
    return {kind: url}


KINDS = ["jwk", "jku", "x5u", "x5c"]
CASES = [(kind, where) for kind in KINDS for where in (ATTACKER_URLS if kind in ("jku", "x5u") else ["-"])]
IDS = [f"{kind}-{where}" if where != "-" else kind for kind, where in CASES]


def test_control_the_realm_signed_token_is_accepted(target: Target, signing_key: SigningKey) -> None:
    target.accepted(mint(user_claims(), signing_key))


@pytest.mark.parametrize(("kind", "where"), CASES, ids=IDS)
def test_an_embedded_key_under_the_realm_kid_is_refused_without_any_request(
    target: Target, signing_key: SigningKey, attacker: SigningKey, kind: str, where: str
) -> None:
    # The attacker signs with its own key but names the realm's kid: no fetch is even needed.
    header = realm_header(signing_key, **embedded(attacker, kind, ATTACKER_URLS.get(where, "")))
    forged = SigningKey(signing_key.kid, attacker.private, "RS256")
    mark = len(target.fake.requests)
    target.refused(mint(user_claims(), forged, header))
    assert target.requests_since(mark) == []


@pytest.mark.parametrize(("kind", "where"), CASES, ids=IDS)
def test_an_embedded_key_under_its_own_kid_is_refused_and_only_the_realm_jwks_is_read(
    target: Target, attacker: SigningKey, kind: str, where: str
) -> None:
    # An unknown kid may cause one refetch of the realm's key set, from the configured URL only.
    header = embedded(attacker, kind, ATTACKER_URLS.get(where, ""))
    mark = len(target.fake.requests)
    target.refused(mint(user_claims(), attacker, header))
    assert set(target.requests_since(mark)) <= {f"GET {target.settings.jwks_url}"}


def test_key_pointers_in_a_realm_signed_token_are_ignored_not_followed(
    target: Target, signing_key: SigningKey, attacker: SigningKey
) -> None:
    # A genuine token that also carries jku/x5u/jwk/x5c verifies with the realm key alone.
    header = {
        "jku": ATTACKER_URLS["internal-host"],
        "x5u": ATTACKER_URLS["external"],
        **embedded(attacker, "jwk", ""),
        **embedded(attacker, "x5c", ""),
    }
    mark = len(target.fake.requests)
    target.accepted(mint(user_claims(), signing_key, header))
    assert target.requests_since(mark) == []


def test_no_request_of_the_whole_module_went_anywhere_but_the_realm(target: Target) -> None:
    allowed = {f"GET {target.settings.discovery_url}", f"GET {target.settings.jwks_url}"}
    assert set(target.requests_since(0)) <= allowed
