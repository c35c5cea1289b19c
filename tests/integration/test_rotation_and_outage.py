"""Keys rotated through Keycloak's admin API, and Keycloak going down and coming back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from fastapi_kc import AuthError, KeycloakAuth, Principal
from keycloak_dev import REALM_FILE, KeycloakServer
from tests.integration.conftest import PASSWORDS, CountingProxy, settings_for
from tests.support.outcomes import outcome
from tests.support.tokens import SigningKey, mint, user_claims

CERTS_PATH = "/protocol/openid-connect/certs"
KEY_PROVIDER = "org.keycloak.keys.KeyProvider"


@pytest.fixture(scope="module")
def rotation_realm(keycloak: KeycloakServer) -> Iterator[str]:
    """A copy of the demo realm, so that rotating its keys leaves every other test alone."""
    realm = json.loads(REALM_FILE.read_text())
    realm["realm"] = "rotation"
    keycloak.admin("POST", "", realm)
    yield "rotation"
    keycloak.admin("DELETE", "rotation")


def mario(keycloak: KeycloakServer, realm: str = "demo") -> str:
    return str(keycloak.token("web", username="mario", password=PASSWORDS["mario"], realm=realm)["access_token"])


def unknown_kid_token(issuer: str) -> str:
    """Signed by a key the realm never had: makes the cache look the kid up (a refetch, if allowed)."""
    return mint(user_claims(iss=issuer), SigningKey.rsa("kid-never-published"))


def add_rsa_key(keycloak: KeycloakServer, realm: str) -> str:
    realm_id = keycloak.admin("GET", realm)["id"]
    config = {"priority": ["500"], "keySize": ["2048"], "active": ["true"], "enabled": ["true"], "algorithm": ["RS256"]}
    component = {"name": "rsa-rotated", "providerId": "rsa-generated", "providerType": KEY_PROVIDER}
    keycloak.admin("POST", f"{realm}/components", {**component, "parentId": realm_id, "config": config})
    return realm_id


def delete_original_rsa_key(keycloak: KeycloakServer, realm: str) -> None:
    components = keycloak.admin("GET", f"{realm}/components?type={KEY_PROVIDER}")
    [original] = [c for c in components if c["providerId"] == "rsa-generated" and c["name"] != "rsa-rotated"]
    keycloak.admin("DELETE", f"{realm}/components/{original['id']}")


def test_a_rotated_key_is_picked_up_with_one_refetch_and_a_deleted_key_stops_being_trusted(
    keycloak: KeycloakServer, rotation_realm: str, proxy: CountingProxy
) -> None:
    settings = settings_for(keycloak, realm=rotation_realm, internal_url=proxy.url, jwks_cooldown_seconds=0)

    async def main() -> None:
        async with KeycloakAuth(settings) as auth:
            old_token = mario(keycloak, rotation_realm)
            assert isinstance(await outcome(auth, old_token), Principal)

            add_rsa_key(keycloak, rotation_realm)
            new_token = mario(keycloak, rotation_realm)
            before = proxy.count("GET", CERTS_PATH)
            results = await asyncio.gather(*(outcome(auth, new_token) for _ in range(20)))
            assert all(isinstance(r, Principal) for r in results)
            assert proxy.count("GET", CERTS_PATH) - before == 1
            assert isinstance(await outcome(auth, old_token), Principal)  # both keys are published now

            delete_original_rsa_key(keycloak, rotation_realm)
            await outcome(auth, unknown_kid_token(settings.issuer))  # causes the refetch
            refused = await outcome(auth, old_token)
            assert isinstance(refused, AuthError) and refused.reason == "unknown_kid"
            assert isinstance(await outcome(auth, new_token), Principal)

    asyncio.run(main())


def test_known_keys_keep_serving_through_an_outage_and_everything_recovers(keycloak: KeycloakServer) -> None:
    settings = settings_for(keycloak, jwks_cooldown_seconds=0)

    async def main() -> None:
        async with KeycloakAuth(settings) as auth:
            before_outage = mario(keycloak)
            assert isinstance(await outcome(auth, before_outage), Principal)

            await asyncio.to_thread(keycloak.stop)
            served = [await outcome(auth, mario_token) for mario_token in [before_outage] * 5]
            assert all(isinstance(r, Principal) for r in served)
            unknown = await outcome(auth, unknown_kid_token(settings.issuer))
            assert isinstance(unknown, AuthError) and unknown.status_code == 503

            await asyncio.to_thread(keycloak.start)
            assert isinstance(await outcome(auth, mario(keycloak)), Principal)
            unknown = await outcome(auth, unknown_kid_token(settings.issuer))
            assert isinstance(unknown, AuthError) and unknown.status_code == 401  # reachable again

    asyncio.run(main())
