"""How the service authenticates to Keycloak as a client: secret, signed JWT, or JWT under the secret.

The assertions are checked the way Keycloak checks them (RFC 7523 §3): signature, `iss` = `sub`
= the client id, `aud` = the realm's issuer, a short life, a `jti` never seen before.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from fastapi_kc import ConfigurationError, KeycloakSettings, ServiceTokenClient, TokenRequestError
from fastapi_kc._client_auth import ASSERTION_TYPE, ClientAuthenticator
from tests.support.fake_keycloak import CLIENT_ID, FakeKeycloak
from tests.support.tokens import ISSUER, SigningKey

JWT_SECRET = "k7Qz2pX9mV4tR8wL1nB6cY3sD5fG0hJ2aE"  # 34 bytes, as long as HS256 needs


def pem_file(tmp_path: Path, key: SigningKey, name: str = "client.pem") -> Path:
    path = tmp_path / name
    path.write_bytes(
        key.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return path


def private_key_settings(settings_values: dict[str, Any], key_file: Path, **extra: Any) -> KeycloakSettings:
    values = {**settings_values, "client_secret": None, "client_auth_method": "private_key_jwt"}
    return KeycloakSettings(**values, client_private_key_file=key_file, **extra)


def assertion_of(settings: KeycloakSettings) -> str:
    form = ClientAuthenticator(settings).credentials().form
    assert form["client_assertion_type"] == ASSERTION_TYPE and form["client_id"] == CLIENT_ID
    return form["client_assertion"]


@pytest.fixture(scope="module")
def client_key() -> SigningKey:
    return SigningKey.rsa("client-key-1")


# --- client_secret_basic (the default) -----------------------------------------------------------


def test_the_default_sends_the_secret_as_basic_auth_with_both_parts_form_urlencoded(settings_values) -> None:
    settings = KeycloakSettings(**{**settings_values, "client_id": "shop api", "client_secret": "a:b%c"})
    credentials = ClientAuthenticator(settings).credentials()
    assert credentials.form == {}
    encoded = credentials.headers["Authorization"].removeprefix("Basic ")
    assert base64.b64decode(encoded).decode() == "shop%20api:a%3Ab%25c"


def test_the_credentials_repr_shows_neither_the_basic_header_nor_an_assertion(settings_values) -> None:
    values = {**settings_values, "client_secret": JWT_SECRET}
    basic = ClientAuthenticator(KeycloakSettings(**values)).credentials()
    signed = ClientAuthenticator(KeycloakSettings(**values, client_auth_method="client_secret_jwt")).credentials()
    assert basic.headers["Authorization"] not in repr(basic)
    assert signed.form["client_assertion"] not in repr(signed)


# --- private_key_jwt -----------------------------------------------------------------------------


def test_a_private_key_jwt_assertion_is_signed_by_the_key_for_the_realm_issuer(
    tmp_path: Path, settings_values, client_key: SigningKey
) -> None:
    settings = private_key_settings(settings_values, pem_file(tmp_path, client_key), client_key_id="client-key-1")
    token = jwt.decode(assertion_of(settings), RSAKey.import_key(client_key.public_pem()))
    assert token.header == {"alg": "RS256", "typ": "JWT", "kid": "client-key-1"}
    claims = token.claims
    assert (claims["iss"], claims["sub"], claims["aud"]) == (CLIENT_ID, CLIENT_ID, ISSUER)
    assert claims["exp"] - claims["iat"] == 60


def test_each_assertion_has_its_own_jti(tmp_path: Path, settings_values, client_key: SigningKey) -> None:
    authenticator = ClientAuthenticator(private_key_settings(settings_values, pem_file(tmp_path, client_key)))
    jtis = {jwt.decode(authenticator.credentials().form["client_assertion"], RSAKey.import_key(
        client_key.public_pem())).claims["jti"] for _ in range(20)}  # fmt: skip
    assert len(jtis) == 20


def test_without_a_key_id_the_assertion_has_no_kid(tmp_path: Path, settings_values, client_key: SigningKey) -> None:
    settings = private_key_settings(settings_values, pem_file(tmp_path, client_key))
    assert "kid" not in jwt.decode(assertion_of(settings), RSAKey.import_key(client_key.public_pem())).header


@pytest.mark.parametrize(
    ("key", "alg"),
    [(SigningKey.ec(alg="ES256"), "ES256"), (SigningKey.ec(alg="ES384"), "ES384")],
    ids=["P-256", "P-384"],
)
def test_the_algorithm_follows_the_key_type(tmp_path: Path, settings_values, key: SigningKey, alg: str) -> None:
    settings = private_key_settings(settings_values, pem_file(tmp_path, key))
    header = jwt.decode(assertion_of(settings), ECKey.import_key(key.public_pem()), algorithms=[alg]).header
    assert header["alg"] == alg


def test_an_ed25519_key_is_refused_naming_the_key_types_that_work(tmp_path: Path, settings_values) -> None:
    with pytest.raises(ConfigurationError, match=r"use an RSA \(RS256\) or EC"):
        ClientAuthenticator(private_key_settings(settings_values, pem_file(tmp_path, SigningKey.ed25519())))


def test_private_key_jwt_without_a_key_file_fails_naming_both_variables(settings_values) -> None:
    with pytest.raises(ConfigurationError) as info:
        KeycloakSettings(**{**settings_values, "client_auth_method": "private_key_jwt"})
    assert "KEYCLOAK_CLIENT_AUTH_METHOD=private_key_jwt" in str(info.value)
    assert "KEYCLOAK_CLIENT_PRIVATE_KEY_FILE" in str(info.value)


def test_a_file_that_is_not_a_pem_private_key_is_refused_without_quoting_it(tmp_path: Path, settings_values) -> None:
    path = tmp_path / "client.pem"
    path.write_text("-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ5dGVzLW5vdC1hLWtleQ==\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigurationError, match="KEYCLOAK_CLIENT_PRIVATE_KEY_FILE") as info:
        ClientAuthenticator(private_key_settings(settings_values, path))
    assert "c2VjcmV0" not in str(info.value)


def test_a_public_key_file_is_refused(tmp_path: Path, settings_values, client_key: SigningKey) -> None:
    path = tmp_path / "public.pem"
    path.write_bytes(client_key.public_pem())
    with pytest.raises(ConfigurationError, match="not an unencrypted PEM private key"):
        ClientAuthenticator(private_key_settings(settings_values, path))


def test_an_encrypted_key_file_is_refused_with_the_conversion(tmp_path: Path, settings_values) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "encrypted.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(b"pass")))  # fmt: skip
    with pytest.raises(ConfigurationError, match="openssl pkcs8 -topk8 -nocrypt"):
        ClientAuthenticator(private_key_settings(settings_values, path))


def test_an_rsa_key_under_2048_bits_is_refused(tmp_path: Path, settings_values) -> None:
    path = pem_file(tmp_path, SigningKey.rsa(bits=1024))
    with pytest.raises(ConfigurationError, match="1024 bits is too small"):
        ClientAuthenticator(private_key_settings(settings_values, path))


# --- client_secret_jwt ---------------------------------------------------------------------------


def test_a_client_secret_jwt_assertion_is_signed_with_hs256_under_the_secret(settings_values) -> None:
    settings = KeycloakSettings(**{**settings_values, "client_secret": JWT_SECRET,
                                   "client_auth_method": "client_secret_jwt"})  # fmt: skip
    form = ClientAuthenticator(settings).credentials().form
    token = jwt.decode(form["client_assertion"], OctKey.import_key(JWT_SECRET))
    assert token.header["alg"] == "HS256" and token.claims["aud"] == ISSUER
    assert JWT_SECRET not in str(form)


def test_a_secret_too_short_for_hs256_is_refused_without_showing_it(settings_values) -> None:
    settings = KeycloakSettings(**{**settings_values, "client_secret": "short-Zq9",
                                   "client_auth_method": "client_secret_jwt"})  # fmt: skip
    with pytest.raises(ConfigurationError, match="shorter than 32 bytes") as info:
        ClientAuthenticator(settings)
    assert "short-Zq9" not in str(info.value)


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_jwt"])
def test_secret_methods_without_a_secret_fail_naming_the_variable(settings_values, method: str) -> None:
    settings = KeycloakSettings(**{**settings_values, "client_secret": None, "client_auth_method": method})
    with pytest.raises(ConfigurationError, match="KEYCLOAK_CLIENT_SECRET"):
        ServiceTokenClient(settings)


# --- used by ServiceTokenClient ------------------------------------------------------------------


def test_service_tokens_are_obtained_with_private_key_jwt_and_no_secret(
    tmp_path: Path, settings_values, client_key: SigningKey, fake_keycloak: FakeKeycloak
) -> None:
    fake_keycloak.assertion_keys[CLIENT_ID] = RSAKey.import_key(client_key.public_pem())
    settings = private_key_settings(settings_values, pem_file(tmp_path, client_key))

    async def main() -> str:
        async with ServiceTokenClient(settings, http_client=fake_keycloak.client()) as client:
            return await client.get_token()

    assert asyncio.run(main()) == "service-token-1"
    request = fake_keycloak.requests[-1]
    assert "Authorization" not in request.headers and b"client_secret" not in request.content


def test_a_key_keycloak_does_not_know_is_reported_as_such(
    tmp_path: Path, settings_values, client_key: SigningKey, fake_keycloak: FakeKeycloak
) -> None:
    fake_keycloak.assertion_keys[CLIENT_ID] = RSAKey.import_key(SigningKey.rsa().public_pem())
    settings = private_key_settings(settings_values, pem_file(tmp_path, client_key))

    async def main() -> str:
        async with ServiceTokenClient(settings, http_client=fake_keycloak.client(), max_attempts=1) as client:
            return await client.get_token()

    with pytest.raises(TokenRequestError) as info:
        asyncio.run(main())
    assert info.value.error == "invalid_client"
    assert "does not match the public key registered" in str(info.value)
    assert "unknown or disabled" not in str(info.value)
