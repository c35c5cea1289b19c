"""MockKeycloak attaches to one auth, for one block, without the network, and then lets go."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient

from fastapi_kc import ConfigurationError, KeycloakAuth, KeycloakSettings
from fastapi_kc.testing import MockKeycloak
from tests.testing_kit.apps import with_middleware
from tests.testing_kit.conftest import NetworkGuard, settings_with


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_app_starts_and_answers_without_any_socket(settings: KeycloakSettings, network: NetworkGuard) -> None:
    auth = KeycloakAuth(settings)
    app = with_middleware(auth)
    with MockKeycloak(auth) as keycloak, TestClient(app) as client:
        me = client.get("/me", headers=bearer(keycloak.token(username="mario")))
    assert me.json() == {"username": "mario", "service": False, "client": None}
    assert network.attempts == []


def test_the_guard_sees_what_an_unmocked_start_up_tries(settings: KeycloakSettings, network: NetworkGuard) -> None:
    with (
        pytest.raises(ConfigurationError, match="cannot reach Keycloak"),
        TestClient(with_middleware(KeycloakAuth(settings))),
    ):
        pass
    assert network.attempts and "keycloak.invalid" in network.attempts[0]


def test_after_the_block_the_app_start_up_fails_again(settings: KeycloakSettings, network: NetworkGuard) -> None:
    auth = KeycloakAuth(settings)
    app = with_middleware(auth)
    with MockKeycloak(auth), TestClient(app) as client:
        assert client.get("/health").status_code == 200
    assert network.attempts == []
    with pytest.raises(ConfigurationError, match=r"keycloak\.invalid"), TestClient(app):
        pass
    assert network.attempts  # it went for the real Keycloak again


def test_only_the_given_auth_is_affected(settings: KeycloakSettings, network: NetworkGuard) -> None:
    mocked, other = KeycloakAuth(settings), KeycloakAuth(settings)

    async def main() -> None:
        async with MockKeycloak(mocked) as keycloak, mocked:
            assert (await mocked.verify(keycloak.token(username="mario"))).username == "mario"
            assert network.attempts == []
            with pytest.raises(ConfigurationError, match=r"keycloak\.invalid"):
                await other.start()

    asyncio.run(main())
    assert network.attempts


def test_async_with_works_like_with(settings: KeycloakSettings, network: NetworkGuard) -> None:
    auth = KeycloakAuth(settings)

    async def main() -> str | None:
        async with MockKeycloak(auth) as keycloak, auth:
            return (await auth.verify(keycloak.token(username="peach"))).username

    assert asyncio.run(main()) == "peach"
    assert not auth.started
    assert network.attempts == []


def test_a_mock_entered_after_the_app_started_is_refused_with_what_to_do(settings: KeycloakSettings) -> None:
    auth = KeycloakAuth(settings)
    with (
        MockKeycloak(auth),
        TestClient(with_middleware(auth)),
        pytest.raises(RuntimeError, match="before the app starts"),
        MockKeycloak(auth),
    ):
        pass


def test_a_block_that_ends_while_the_app_runs_says_so(settings: KeycloakSettings) -> None:
    auth = KeycloakAuth(settings)

    async def main() -> None:
        mock = MockKeycloak(auth)
        mock.__enter__()
        await auth.start()
        try:
            with pytest.raises(RuntimeError, match="stop the app inside"):
                mock.__exit__(None, None, None)
        finally:
            await auth.close()

    asyncio.run(main())


def test_one_mock_object_serves_one_block_at_a_time(settings: KeycloakSettings) -> None:
    keycloak = MockKeycloak(KeycloakAuth(settings))
    with keycloak, pytest.raises(RuntimeError, match="already in use"), keycloak:
        pass


def test_token_clients_of_another_realm_are_refused(settings: KeycloakSettings) -> None:
    from fastapi_kc import ServiceTokenClient

    elsewhere = ServiceTokenClient(settings_with(realm="other"))
    with pytest.raises(ValueError, match="one realm"):
        MockKeycloak(KeycloakAuth(settings), elsewhere)


def test_the_repr_names_the_realm_and_key_but_holds_no_key_material(settings: KeycloakSettings) -> None:
    keycloak = MockKeycloak(KeycloakAuth(settings))
    assert repr(keycloak).startswith("MockKeycloak(issuer='https://auth.example.com/realms/shop', kid=")
    assert "alg='RS256'" in repr(keycloak)
