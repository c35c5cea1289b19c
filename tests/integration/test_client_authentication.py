"""Client authentication without a shared secret, against the real Keycloak.

The signed-JWT clients are created through the admin API with a key generated here: the
private key never leaves the test's temporary folder, and Keycloak holds only the public key
(as a JWKS, Clients > <client> > Keys > "JWKS").
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import RSAKey

from fastapi_kc import KeycloakAuth, KeycloakSettings, Principal, ServiceTokenClient, TokenRequestError
from keycloak_dev import KeycloakServer
from tests.integration.conftest import settings_for

KEY_ID = "jwt-worker-key-1"
JWT_SECRET = "f3Vq8Lz1Xw6Rk2Tn9Pb4Hy7Jc5Md0Sa3Ge"  # client_secret_jwt needs >= 32 bytes for HS256
AUDIENCE_API = {
    "name": "audience-api",
    "protocol": "openid-connect",
    "protocolMapper": "oidc-audience-mapper",
    "config": {"included.client.audience": "api", "access.token.claim": "true", "id.token.claim": "false"},
}


def ensure_client(keycloak: KeycloakServer, representation: dict[str, Any]) -> None:
    """Create the client afresh (replacing one an earlier module of this session created)."""
    for found in keycloak.admin("GET", f"demo/clients?clientId={representation['clientId']}"):
        keycloak.admin("DELETE", f"demo/clients/{found['id']}")
    keycloak.admin("POST", "demo/clients", representation)


def write_private_key(path: Path) -> rsa.RSAPrivateKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))  # fmt: skip
    return key


@pytest.fixture(scope="module")
def key_file(keycloak: KeycloakServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`jwt-worker` ("Signed JWT") registered with the public half of a key generated here."""
    path = tmp_path_factory.mktemp("client-key") / "jwt-worker.pem"
    public = RSAKey.import_key(write_private_key(path)).as_dict(private=False, kid=KEY_ID, use="sig", alg="RS256")
    jwks = json.dumps({"keys": [public]})
    ensure_client(keycloak, {
        "clientId": "jwt-worker", "enabled": True, "publicClient": False, "clientAuthenticatorType": "client-jwt",
        "serviceAccountsEnabled": True, "standardFlowEnabled": False, "directAccessGrantsEnabled": False,
        "attributes": {"use.jwks.url": "false", "use.jwks.string": "true", "jwks.string": jwks},
        "protocolMappers": [AUDIENCE_API],
    })  # fmt: skip
    return path


@pytest.fixture(scope="module")
def secret_jwt_client(keycloak: KeycloakServer) -> str:
    """`jwt-secret-worker` ("Signed JWT with client secret")."""
    ensure_client(keycloak, {
        "clientId": "jwt-secret-worker", "enabled": True, "publicClient": False,
        "clientAuthenticatorType": "client-secret-jwt", "secret": JWT_SECRET, "serviceAccountsEnabled": True,
        "standardFlowEnabled": False, "directAccessGrantsEnabled": False, "protocolMappers": [AUDIENCE_API],
    })  # fmt: skip
    return "jwt-secret-worker"


def key_settings(keycloak: KeycloakServer, key_file: Path, **overrides: Any) -> KeycloakSettings:
    values = {"client_id": "jwt-worker", "client_secret": None, "client_auth_method": "private_key_jwt",
              "client_private_key_file": key_file, "client_key_id": KEY_ID}  # fmt: skip
    return settings_for(keycloak, **{**values, **overrides})


def service_principal(settings: KeycloakSettings) -> Principal:
    async def main() -> Principal:
        async with ServiceTokenClient(settings) as client, KeycloakAuth(settings) as auth:
            return await auth.verify(await client.get_token())

    return asyncio.run(main())


def refusal(settings: KeycloakSettings) -> TokenRequestError:
    async def main() -> str:
        async with ServiceTokenClient(settings, max_attempts=1) as client:
            return await client.get_token()

    with pytest.raises(TokenRequestError) as info:
        asyncio.run(main())
    return info.value


def test_a_service_token_is_obtained_with_private_key_jwt(keycloak: KeycloakServer, key_file: Path) -> None:
    principal = service_principal(key_settings(keycloak, key_file))
    assert principal.is_service_account and principal.client_id == "jwt-worker"


def test_private_key_jwt_works_without_a_kid_when_the_client_has_one_key(
    keycloak: KeycloakServer, key_file: Path
) -> None:
    principal = service_principal(key_settings(keycloak, key_file, client_key_id=None))
    assert principal.client_id == "jwt-worker"


def test_a_service_token_is_obtained_with_client_secret_jwt(keycloak: KeycloakServer, secret_jwt_client: str) -> None:
    settings = settings_for(keycloak, client_id=secret_jwt_client, client_secret=JWT_SECRET,
                            client_auth_method="client_secret_jwt")  # fmt: skip
    assert service_principal(settings).client_id == secret_jwt_client


def test_a_key_keycloak_does_not_hold_is_named_as_the_cause(
    keycloak: KeycloakServer, key_file: Path, tmp_path: Path
) -> None:
    write_private_key(other := tmp_path / "other.pem")
    error = refusal(key_settings(keycloak, key_file, client_private_key_file=other))
    assert (error.status_code, error.error) == (400, "invalid_client")
    assert "KEYCLOAK_CLIENT_PRIVATE_KEY_FILE does not match the public key registered" in str(error)


def test_an_unknown_key_id_is_named_as_the_cause(keycloak: KeycloakServer, key_file: Path) -> None:
    error = refusal(key_settings(keycloak, key_file, client_key_id="no-such-kid"))
    assert error.error == "invalid_client" and "KEYCLOAK_CLIENT_KEY_ID=no-such-kid" in str(error)


def test_a_secret_sent_to_a_signed_jwt_client_names_the_method_to_set(keycloak: KeycloakServer, key_file: Path) -> None:
    error = refusal(settings_for(keycloak, client_id="jwt-worker", client_secret="Zq9-some-secret"))
    assert error.error == "invalid_client"
    assert "KEYCLOAK_CLIENT_AUTH_METHOD=private_key_jwt" in str(error) and "Zq9-some-secret" not in str(error)


def test_a_wrong_secret_for_client_secret_jwt_is_named_without_showing_it(
    keycloak: KeycloakServer, secret_jwt_client: str
) -> None:
    wrong = "W" * 40
    settings = settings_for(keycloak, client_id=secret_jwt_client, client_secret=wrong,
                            client_auth_method="client_secret_jwt")  # fmt: skip
    error = refusal(settings)
    assert error.error == "unauthorized_client" and "signed with another secret" in str(error)
    assert wrong not in str(error) + repr(error)
