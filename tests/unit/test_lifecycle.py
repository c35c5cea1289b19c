"""Start-up in every place an app can live (issue 14): a mounted sub-application, whose
lifespan Starlette never runs, starts its auth on first use; an app whose own start-up fails
after the middleware started `auth` does not leave it open.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Mount

from fastapi_kc import ConfigurationError, KeycloakAuth, KeycloakMiddleware, KeycloakSettings, Principal
from tests.support.fake_keycloak import DISCOVERY_PATH, FakeKeycloak
from tests.support.tokens import SigningKey, mint, user_claims


@pytest.fixture
def auth(fake_keycloak: FakeKeycloak, settings_values: dict[str, Any]) -> KeycloakAuth:
    return KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def mounted(auth: KeycloakAuth, *, middleware: bool) -> Starlette:
    """An outer app mounting at /api a FastAPI app that does everything by the book for itself."""
    api = FastAPI(lifespan=auth.lifespan)  # never runs: Starlette runs only the outer lifespan
    if middleware:
        api.add_middleware(KeycloakMiddleware, auth=auth)

    @api.get("/me")
    async def me(caller: Principal = Depends(auth.principal)) -> dict[str, str]:
        return {"subject": caller.subject}

    @api.get("/whoami")
    async def whoami(request: Request) -> dict[str, str]:
        return {"subject": request.user.identity}

    return Starlette(routes=[Mount("/api", app=api)])


@pytest.mark.parametrize("middleware", [False, True], ids=["dependencies", "middleware"])
def test_an_auth_in_a_mounted_sub_application_starts_on_first_use(
    auth: KeycloakAuth, signing_key: SigningKey, middleware: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="fastapi_kc"),
        TestClient(mounted(auth, middleware=middleware)) as client,
    ):
        assert not auth.started
        response = client.get("/api/me", headers=bearer(mint(user_claims(), signing_key)))
        assert auth.started
        client.portal.call(auth.close)  # type: ignore[union-attr]
    assert response.json() == {"subject": "0b5c6e1a-user-mario"}
    assert any("started on first use" in r.getMessage() and "lifespan=auth.lifespan" in r.getMessage()
               for r in caplog.records)  # fmt: skip


def test_concurrent_first_requests_start_the_auth_once(auth: KeycloakAuth, signing_key: SigningKey) -> None:
    import asyncio

    async def main() -> int:
        token = mint(user_claims(), signing_key)
        results = await asyncio.gather(*(auth.verify(token) for _ in range(20)))
        assert {p.subject for p in results} == {"0b5c6e1a-user-mario"}
        users = auth._users
        await auth.close()
        return users

    assert asyncio.run(main()) == 1
    assert not auth.started


def test_a_first_use_start_that_fails_is_a_503_and_is_not_retried_within_the_cooldown(
    auth: KeycloakAuth, fake_keycloak: FakeKeycloak, signing_key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    fake_keycloak.discovery_issuer = "http://keycloak.internal:8080/realms/demo"
    token = mint(user_claims(), signing_key)
    with caplog.at_level(logging.ERROR, logger="fastapi_kc"), TestClient(mounted(auth, middleware=False)) as client:
        first = client.get("/api/me", headers=bearer(token))
        second = client.get("/api/me", headers=bearer(token))
    assert first.status_code == second.status_code == 503
    assert first.json() == {"detail": "authentication could not start"}
    assert fake_keycloak.hits[DISCOVERY_PATH] == 1
    assert any("could not start on first use" in r.getMessage() and "issuer" in r.getMessage() for r in caplog.records)


def test_auth_is_closed_when_the_apps_own_start_up_fails_after_the_middleware_started_it(auth: KeycloakAuth) -> None:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        assert auth.started  # the middleware started it first
        raise RuntimeError("the database is down")
        yield

    app = Starlette(lifespan=lifespan, middleware=[Middleware(KeycloakMiddleware, auth=auth)])
    with pytest.raises(RuntimeError, match="database"), TestClient(app):
        pass
    assert not auth.started


def test_a_second_auth_failing_to_start_closes_the_first(
    auth: KeycloakAuth, settings_values: dict[str, Any], signing_key: SigningKey
) -> None:
    broken_keycloak = FakeKeycloak(keys=[signing_key], discovery_issuer="https://elsewhere.example/realms/demo")
    other = KeycloakAuth(
        KeycloakSettings(**{**settings_values, "public_url": "https://other.example.test"}),
        http_client=broken_keycloak.client(),
    )
    app = Starlette(middleware=[Middleware(KeycloakMiddleware, auth=[auth, other])])
    with pytest.raises(ConfigurationError, match="issuer"), TestClient(app):
        pass
    assert not auth.started and not other.started


def test_a_lifespan_that_starts_an_auth_already_started_on_first_use_closes_it_at_its_shutdown(
    auth: KeycloakAuth, signing_key: SigningKey
) -> None:
    import asyncio

    async def main() -> tuple[bool, bool]:
        await auth.verify(mint(user_claims(), signing_key))  # before any start: started on first use
        async with auth.lifespan(FastAPI()):
            during = auth.started
        return during, auth.started

    assert asyncio.run(main()) == (True, False)


def test_after_a_first_use_start_two_lifespans_keep_the_auth_open_until_both_have_ended(
    auth: KeycloakAuth, signing_key: SigningKey
) -> None:
    import asyncio

    async def main() -> list[bool]:
        await auth.verify(mint(user_claims(), signing_key))
        seen = []
        async with auth.lifespan(FastAPI()):
            async with auth.lifespan(FastAPI()):
                seen.append(auth.started)
            seen.append(auth.started)
        seen.append(auth.started)
        return seen

    assert asyncio.run(main()) == [True, True, False]


def test_code_borrowing_an_auth_started_on_first_use_does_not_end_it(
    auth: KeycloakAuth, signing_key: SigningKey, fake_keycloak: FakeKeycloak
) -> None:
    import asyncio

    async def main() -> tuple[bool, int]:
        await auth.verify(mint(user_claims(), signing_key))  # before any start: started on first use
        async with auth:  # e.g. a helper that starts and closes the auth around its own work
            pass
        await auth.verify(mint(user_claims(), signing_key))
        return auth.started, fake_keycloak.certs_hits

    assert asyncio.run(main()) == (True, 1)  # still serving, and never restarted
