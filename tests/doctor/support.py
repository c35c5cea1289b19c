"""Running the doctor against the fake Keycloak, and reading its report."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from typing import Any

import httpx

from fastapi_kc import KeycloakSettings
from fastapi_kc.__main__ import main
from fastapi_kc._doctor import run_doctor
from fastapi_kc._doctor_report import Report, Status
from tests.support.fake_keycloak import TOKEN_PATH, FakeKeycloak
from tests.support.tokens import SigningKey, mint, service_claims


def doctor(
    fake: FakeKeycloak,
    values: dict[str, Any],
    *,
    token: str | None = None,
    client_credentials: bool = False,
    clock: Callable[[], float] = time.time,
) -> Report:
    async def run() -> Report:
        async with fake.client() as client:
            return await run_doctor(
                KeycloakSettings(**values),
                token=token,
                client_credentials=client_credentials,
                http_client=client,
                clock=clock,
            )

    return asyncio.run(run())


def cli(argv: list[str], *, fake: FakeKeycloak | None = None, stdin: str = "") -> tuple[int, str]:
    """`fastapi-kc ARGV` in-process with the environment as set by the test; (exit code, output)."""
    out = io.StringIO()
    client = fake.client() if fake is not None else None
    try:
        code = main(argv, stdin=io.StringIO(stdin), stdout=out, http_client=client)
    finally:
        if client is not None:
            asyncio.run(client.aclose())
    return code, out.getvalue()


def statuses(report: Report) -> dict[str, Status]:
    return {check.id: check.status for check in report.checks}


def issue_jwt_service_tokens(fake: FakeKeycloak, key: SigningKey, **overrides: Any) -> None:
    """Let the fake's token endpoint issue real signed tokens (its default tokens are opaque)."""
    original = fake._token

    async def token(request: httpx.Request) -> httpx.Response:
        response = await original(request)
        if response.status_code != 200:
            return response
        value = mint(service_claims(**overrides), key)
        return httpx.Response(200, json={"access_token": value, "token_type": "Bearer", "expires_in": 300})

    def route(request: httpx.Request) -> Any:
        if request.url.path == TOKEN_PATH:
            return token(request)
        return None

    fake.override = route
