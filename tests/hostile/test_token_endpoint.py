"""A hostile token endpoint for `ServiceTokenClient`: its answer must be bounded like the key set's.

The client-credentials response is a few hundred bytes; a 50 MB (or endless) answer must be
abandoned early, not read whole into memory.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from fastapi_kc import ServiceTokenClient, TokenRequestError
from fastapi_kc._http import MAX_DOCUMENT_BYTES
from tests.attacks.harness import build_settings
from tests.hostile.servers import CountingStream, on
from tests.support.fake_keycloak import TOKEN_PATH, FakeKeycloak
from tests.support.tokens import SigningKey


def get_token(fake: FakeKeycloak) -> str | TokenRequestError:
    async def main() -> str | TokenRequestError:
        async with fake.client() as http, ServiceTokenClient(build_settings(), http_client=http) as client:
            try:
                return await client.get_token()
            except TokenRequestError as exc:
                return exc

    return asyncio.run(main())


def test_control_the_fake_token_endpoint_issues_a_token(signing_key: SigningKey) -> None:
    assert get_token(FakeKeycloak(keys=[signing_key])) == "service-token-1"


@pytest.mark.parametrize("status", [200, 400])
def test_an_html_answer_is_named(signing_key: SigningKey, status: int) -> None:
    fake = FakeKeycloak(keys=[signing_key])
    fake.override = on(TOKEN_PATH, lambda: httpx.Response(status, text="<html>proxy login</html>"))
    result = get_token(fake)
    assert isinstance(result, TokenRequestError)
    assert TOKEN_PATH in str(result)


def test_a_50_mb_answer_is_abandoned_after_a_bound(signing_key: SigningKey) -> None:
    fake = FakeKeycloak(keys=[signing_key])
    stream = CountingStream(50 * 1024 * 1024)
    fake.override = on(TOKEN_PATH, lambda: httpx.Response(200, stream=stream))
    result = get_token(fake)
    assert isinstance(result, TokenRequestError)
    assert stream.pulled <= MAX_DOCUMENT_BYTES + stream.chunk, f"{stream.pulled} bytes read"
