"""The request path's cache of verified tokens: a repeated token is found without a verification,
and only ever the very token that was verified, still good, in a request `bearer_token` accepts.

Both forms ask the cache first (`KeycloakMiddleware`, and `Depends(auth.principal)` alone), so
each rule is shown through both. Requests are raw ASGI calls where the exact header bytes matter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from starlette.types import ASGIApp, Message

from fastapi_kc import KeycloakAuth, KeycloakMiddleware, KeycloakSettings, Principal
from fastapi_kc._revocations import Revocation
from fastapi_kc.metrics import CountingMetrics
from tests.support.clock import Clock
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import SigningKey, mint, user_claims


def middleware_app(auth: KeycloakAuth) -> ASGIApp:
    app = FastAPI()

    @app.get("/me")
    async def me() -> dict[str, str]:
        return {"ok": "yes"}

    app.add_middleware(KeycloakMiddleware, auth=auth)
    return app


def dependency_app(auth: KeycloakAuth) -> ASGIApp:
    app = FastAPI(lifespan=auth.lifespan)

    @app.get("/me")
    async def me(caller: Principal = Depends(auth.principal)) -> dict[str, str]:
        return {"ok": caller.subject}

    return app


FORMS = [pytest.param(middleware_app, id="middleware"), pytest.param(dependency_app, id="dependency")]


class Driver:
    """Starts an app's lifespan and sends it GET /me with the exact raw headers given."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def get(self, headers: list[tuple[bytes, bytes]]) -> int:
        status = 0

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        scope: dict[str, Any] = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": "/me", "raw_path": b"/me", "root_path": "", "query_string": b"", "headers": headers,
            "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80), "state": {},
        }  # fmt: skip
        await self.app(scope, receive, send)
        return status

    async def cache(self, token: str) -> list[int]:
        """Send `token` twice: it is in the cache from its second sighting on."""
        return [await self.get([bearer(token)]) for _ in range(2)]

    def run(self, body: Callable[[Driver], Any]) -> Any:
        async def main() -> Any:
            inbox: asyncio.Queue[Message] = asyncio.Queue()
            outbox: asyncio.Queue[Message] = asyncio.Queue()
            task = asyncio.create_task(self.app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                                                inbox.get, outbox.put))  # fmt: skip
            await inbox.put({"type": "lifespan.startup"})
            assert (await outbox.get())["type"] == "lifespan.startup.complete"
            try:
                return await body(self)
            finally:
                await inbox.put({"type": "lifespan.shutdown"})
                await outbox.get()
                await task

        return asyncio.run(main())


def bearer(token: str, scheme: bytes = b"Bearer ") -> tuple[bytes, bytes]:
    return (b"authorization", scheme + token.encode())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_auth(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, object], clock: Clock
) -> Callable[..., KeycloakAuth]:
    """A started-by-the-app auth on the hand-moved clock, with settings overridden."""

    def make(metrics: CountingMetrics | None = None, **overrides: object) -> KeycloakAuth:
        settings = KeycloakSettings(**{**settings_values, **overrides})
        return KeycloakAuth(settings, http_client=fake_keycloak.client(), clock=clock, metrics=metrics)

    return make


@pytest.fixture
def auth(make_auth: Callable[..., KeycloakAuth]) -> KeycloakAuth:
    return make_auth(jwks_cooldown_seconds=0)


@pytest.mark.parametrize("form", FORMS)
def test_a_repeated_token_is_verified_on_its_first_two_sightings_only(
    form: Callable[[KeycloakAuth], ASGIApp], make_auth: Callable[..., KeycloakAuth], signing_key: SigningKey
) -> None:
    counts = CountingMetrics()  # a full verification is a cache miss; the rest are hits
    auth = make_auth(counts)
    token = mint(user_claims(), signing_key)

    async def four(driver: Driver) -> list[int]:
        return [await driver.get([bearer(token)]) for _ in range(4)]

    assert Driver(form(auth)).run(four) == [200] * 4
    assert (counts.cache_misses, counts.cache_hits) == (2, 2)


@pytest.mark.parametrize("form", FORMS)
def test_a_token_ending_like_a_cached_one_is_not_taken_for_it(
    form: Callable[[KeycloakAuth], ASGIApp], auth: KeycloakAuth, signing_key: SigningKey
) -> None:
    # The cache is keyed by a token's last characters; a forged payload under a copied signature
    # shares them with the genuine token, and must be checked (and refused) as any other token.
    genuine = mint(user_claims(), signing_key)
    head, _, signature = genuine.split(".")
    forged = ".".join([head, mint(user_claims(sub="0b5c6e1a-user-luigi"), signing_key).split(".")[1], signature])
    assert forged[-32:] == genuine[-32:] and len(forged) == len(genuine) and forged != genuine

    async def both(driver: Driver) -> list[int]:
        cached = await driver.cache(genuine)
        return [*cached, await driver.get([bearer(forged)]), await driver.get([bearer("x" + genuine)]),
                await driver.get([bearer(genuine)])]  # fmt: skip

    assert Driver(form(auth)).run(both) == [200, 200, 401, 401, 200]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(
    "second",
    [
        pytest.param(b"authorization", id="the-same-spelling"),
        pytest.param(b"Authorization", id="another-spelling"),
    ],
)
def test_a_second_authorization_header_is_refused_even_for_a_cached_token(
    form: Callable[[KeycloakAuth], ASGIApp], second: bytes, auth: KeycloakAuth, signing_key: SigningKey
) -> None:
    token = mint(user_claims(), signing_key)

    async def requests(driver: Driver) -> list[int]:
        twice = [bearer(token), (second, b"Bearer " + token.encode())]
        cached = await driver.cache(token)
        return [*cached, await driver.get(twice)]

    # Both headers carry the valid token: the refusal can only be the repetition's (invalid_request).
    assert Driver(form(auth)).run(requests) == [200, 200, 401]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(
    "scheme",
    [pytest.param(b"bearer ", id="lower-case-scheme"), pytest.param(b"Bearer   ", id="several-spaces")],
)
def test_a_cached_token_in_another_spelling_of_the_header_is_still_accepted(
    form: Callable[[KeycloakAuth], ASGIApp], scheme: bytes, auth: KeycloakAuth, signing_key: SigningKey
) -> None:
    token = mint(user_claims(), signing_key)

    async def requests(driver: Driver) -> list[int]:
        cached = await driver.cache(token)
        return [*cached, await driver.get([bearer(token, scheme)])]

    assert Driver(form(auth)).run(requests) == [200, 200, 200]


@pytest.mark.parametrize("form", FORMS)
def test_a_cached_token_expires_on_the_request_path(
    form: Callable[[KeycloakAuth], ASGIApp], auth: KeycloakAuth, signing_key: SigningKey, clock: Clock
) -> None:
    token = mint(user_claims(exp=int(clock.now) + 60), signing_key)

    async def later(driver: Driver) -> list[int]:
        first = await driver.cache(token)
        clock.now += 60 + 31  # past the expiry and the 30 s leeway
        return [*first, await driver.get([bearer(token)])]

    assert Driver(form(auth)).run(later) == [200, 200, 401]


@pytest.mark.parametrize("form", FORMS)
def test_a_cached_token_of_an_ended_session_is_refused(
    form: Callable[[KeycloakAuth], ASGIApp], auth: KeycloakAuth, signing_key: SigningKey, clock: Clock
) -> None:
    claims = user_claims()
    token = mint(claims, signing_key)

    async def logout(driver: Driver) -> list[int]:
        first = await driver.cache(token)
        auth.revocations.apply(Revocation("sid", claims["sid"], clock.now, clock.now + 600))
        return [*first, await driver.get([bearer(token)])]

    assert Driver(form(auth)).run(logout) == [200, 200, 401]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("same_kid", [False, True], ids=["key-left-the-realm", "kid-now-names-another-key"])
def test_a_cached_token_whose_key_left_or_changed_is_refused(
    form: Callable[[KeycloakAuth], ASGIApp],
    same_kid: bool,
    auth: KeycloakAuth,
    signing_key: SigningKey,
    fake_keycloak: FakeKeycloak,
) -> None:
    old = mint(user_claims(), signing_key)
    other = SigningKey.rsa("kid-other")

    async def rotate(driver: Driver) -> list[int]:
        first = await driver.cache(old)
        # The key of `old` is gone, or its kid now names new key material.
        fake_keycloak.keys = [SigningKey.rsa(signing_key.kid), other] if same_kid else [other]
        fresh = await driver.get([bearer(mint(user_claims(), other))])  # unknown kid: the key set is fetched again
        return [*first, fresh, await driver.get([bearer(old)])]

    assert Driver(form(auth)).run(rotate) == [200, 200, 200, 401]


@pytest.mark.parametrize("form", FORMS)
def test_a_cached_token_is_found_again_after_a_refresh_that_kept_its_key(
    form: Callable[[KeycloakAuth], ASGIApp],
    make_auth: Callable[..., KeycloakAuth],
    fake_keycloak: FakeKeycloak,
    signing_key: SigningKey,
    clock: Clock,
) -> None:
    counts = CountingMetrics()
    auth = make_auth(counts, jwks_max_age_seconds=600)
    token = mint(user_claims(exp=int(clock.now) + 3600), signing_key)

    async def aged(driver: Driver) -> list[int]:
        first = await driver.cache(token)
        clock.now += 601  # the key set is due for a refresh: a cached request alone starts it
        due = await driver.get([bearer(token)])
        await asyncio.sleep(0.01)  # let the background refresh run
        return [*first, due, await driver.get([bearer(token)])]

    assert Driver(form(auth)).run(aged) == [200] * 4
    assert fake_keycloak.certs_hits == 2
    assert (counts.cache_misses, counts.cache_hits) == (2, 2)  # the refresh kept the key: no new verification


@pytest.mark.parametrize("form", FORMS)
def test_a_cached_token_is_not_served_from_a_key_set_past_its_staleness_limit(
    form: Callable[[KeycloakAuth], ASGIApp],
    make_auth: Callable[..., KeycloakAuth],
    fake_keycloak: FakeKeycloak,
    signing_key: SigningKey,
    clock: Clock,
) -> None:
    auth = make_auth(jwks_max_stale_seconds=3600)
    token = mint(user_claims(exp=int(clock.now) + 7200), signing_key)

    async def outage(driver: Driver) -> list[int]:
        first = await driver.cache(token)
        fake_keycloak.down = True
        clock.now += 3601
        return [*first, await driver.get([bearer(token)])]

    assert Driver(form(auth)).run(outage) == [200, 200, 503]
