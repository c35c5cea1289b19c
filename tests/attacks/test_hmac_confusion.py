"""HMAC signed with the realm's public key (RFC 8725 §2.1, §3.1; CVE-2016-10555, CVE-2022-29217).

A verifier that lets the token's `alg` choose how the key is used can be made to treat the
public key, in whatever form it is published or easily obtained, as an HMAC secret. Every
form below is one an attacker can compute from the realm's JWKS.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization

from fastapi_kc import ConfigurationError
from tests.attacks.harness import Target, build_settings, realm_header
from tests.support.tokens import SigningKey, b64url, encode_segments, mint, user_claims

HMACS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def _public(key: SigningKey, encoding: serialization.Encoding, fmt: serialization.PublicFormat) -> bytes:
    return key.private.public_key().public_bytes(encoding, fmt)


SECRETS: dict[str, Callable[[SigningKey], bytes]] = {
    "pem-spki": lambda k: k.public_pem(),
    "pem-spki-no-newline": lambda k: k.public_pem().rstrip(b"\n"),
    "pem-pkcs1": lambda k: _public(k, serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
    "der-spki": lambda k: _public(k, serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
    "der-pkcs1": lambda k: _public(k, serialization.Encoding.DER, serialization.PublicFormat.PKCS1),
    "openssh": lambda k: _public(k, serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH),
    "jwk-as-published": lambda k: json.dumps(k.jwk()).encode(),
    "jwk-compact": lambda k: json.dumps(k.jwk(), separators=(",", ":")).encode(),
    "jwk-thumbprint-members": lambda k: json.dumps(
        {m: k.jwk()[m] for m in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True
    ).encode(),
    "jwk-n-member": lambda k: k.jwk()["n"].encode(),
    "modulus-bytes": lambda k: k.private.public_key().public_numbers().n.to_bytes(256, "big"),
    "empty": lambda k: b"",
}


def hmac_token(key: SigningKey, alg: str, secret: bytes) -> str:
    header = realm_header(key, alg=alg)
    signing_input = encode_segments(header, user_claims())
    signature = hmac.new(secret, signing_input.encode(), HMACS[alg]).digest()
    return f"{signing_input}.{b64url(signature)}"


def test_control_the_realm_signed_token_is_accepted(target: Target, signing_key: SigningKey) -> None:
    target.accepted(mint(user_claims(), signing_key))


@pytest.mark.parametrize("alg", sorted(HMACS))
@pytest.mark.parametrize("form", sorted(SECRETS))
def test_hmac_keyed_with_the_rsa_public_key_is_refused(
    target: Target, signing_key: SigningKey, form: str, alg: str
) -> None:
    target.refused(hmac_token(signing_key, alg, SECRETS[form](signing_key)))


@pytest.mark.parametrize("form", ["pem-spki", "der-spki", "jwk-as-published", "jwk-compact"])
def test_hmac_keyed_with_the_ec_public_key_is_refused(mixed_target: Target, ec_key: SigningKey, form: str) -> None:
    target = mixed_target
    secret = {
        "pem-spki": ec_key.public_pem(),
        "der-spki": _public(ec_key, serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        "jwk-as-published": json.dumps(ec_key.jwk()).encode(),
        "jwk-compact": json.dumps(ec_key.jwk(), separators=(",", ":")).encode(),
    }[form]
    target.refused(hmac_token(ec_key, "HS256", secret))


@pytest.mark.parametrize(
    "algorithms", ["HS256", "RS256,HS256", "hs256", "HS512", "none", "RS256,none", '["RS256", "HS384"]']
)
def test_hmac_or_none_cannot_even_be_configured(algorithms: str) -> None:
    with pytest.raises(ConfigurationError, match="KEYCLOAK_ALGORITHMS"):
        build_settings(algorithms=algorithms)
