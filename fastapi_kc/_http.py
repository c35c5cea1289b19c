"""HTTP to Keycloak: the one place where httpx is called and its errors are translated.

Every GET is bounded in size and in total time (a body that trickles in byte by byte does
not hold a request forever), never follows a redirect, and verifies TLS, with an optional CA
bundle; there is deliberately no way to switch verification off (field notes, "From other
integrations"). Failures become a `FetchError` carrying a `Diagnosis`.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import zlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import httpx

from fastapi_kc import _diagnostics as diagnose
from fastapi_kc._client_auth import ClientCredentials
from fastapi_kc._diagnostics import Diagnosis
from fastapi_kc._errors import ConfigurationError
from fastapi_kc._settings import KeycloakSettings, env_name

MAX_DOCUMENT_BYTES = 1024 * 1024  # a realm's JWKS or discovery document is a few kilobytes

# What `read_bounded` inflates, and so all that may be asked for. httpx advertises by default
# every encoding it can decode itself (`br` with brotli installed, `zstd` with zstandard), but
# bodies are inflated here, bounded, not by httpx: a compressing proxy answering `br` would make
# start-up fail. Sent on every request, so a client injected by the user is corrected too.
_INFLATED: Final = frozenset({"gzip", "x-gzip", "deflate"})
ACCEPT_ENCODING: Final = "gzip, deflate"
REQUEST_HEADERS: Final = MappingProxyType({"Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING})


class FetchError(Exception):
    """A call to Keycloak failed; `diagnosis` says how, and how to fix it."""

    def __init__(self, diagnosis: Diagnosis, *, status_code: int | None = None) -> None:
        super().__init__(str(diagnosis))
        self.diagnosis = diagnosis
        self.status_code = status_code


def create_http_client(settings: KeycloakSettings) -> httpx.AsyncClient:
    """The client used when none is injected: TLS verified (with `ca_bundle` if set), no redirects."""
    verify: ssl.SSLContext | bool = True
    if settings.ca_bundle is not None:
        try:
            verify = ssl.create_default_context(cafile=str(settings.ca_bundle))
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ConfigurationError(
                f"{env_name('ca_bundle')}={settings.ca_bundle} cannot be used as a CA bundle ({exc}); it must be a "
                "PEM file with the certificate(s) of the CA that signed Keycloak's certificate"
            ) from None
    return httpx.AsyncClient(
        verify=verify,
        timeout=httpx.Timeout(settings.http_timeout_seconds),
        follow_redirects=False,
        headers={"User-Agent": "fastapi-kc", "Accept-Encoding": ACCEPT_ENCODING},
        trust_env=True,
    )


async def get_json(
    client: httpx.AsyncClient, settings: KeycloakSettings, url: str, *, what: str, max_bytes: int = MAX_DOCUMENT_BYTES
) -> Any:
    """GET `url` and decode its JSON body.

    Raises:
        FetchError: network failure, non-200 status (redirects included), body over `max_bytes`,
            or a body that is not JSON; within `settings.http_timeout_seconds` overall.
    """
    try:
        async with asyncio.timeout(settings.http_timeout_seconds):
            return await _get_json(client, settings, url, what=what, max_bytes=max_bytes)
    except TimeoutError as exc:
        raise FetchError(diagnose.unreachable(settings, url, "timeout", "no complete answer in time")) from exc


async def _get_json(
    client: httpx.AsyncClient, settings: KeycloakSettings, url: str, *, what: str, max_bytes: int
) -> Any:
    try:
        async with client.stream("GET", url, headers=REQUEST_HEADERS, follow_redirects=False) as response:
            if response.status_code != 200:
                diagnosis = diagnose.http_status(
                    settings, url, what, response.status_code, response.headers.get("Location")
                )
                raise FetchError(diagnosis, status_code=response.status_code)
            try:
                body = await read_bounded(response, max_bytes)
            except UnsupportedEncodingError as exc:
                raise FetchError(diagnose.not_json(url, what, f"Content-Encoding {exc}", "")) from exc
    except httpx.TimeoutException as exc:
        raise FetchError(diagnose.unreachable(settings, url, "timeout", type(exc).__name__)) from exc
    except httpx.HTTPError as exc:
        raise FetchError(diagnose.describe_network_error(settings, url, exc)) from exc
    if body is None:
        raise FetchError(diagnose.too_large(url, what, max_bytes))
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        snippet = body[:60].decode("utf-8", "replace")
        raise FetchError(diagnose.not_json(url, what, response.headers.get("Content-Type"), snippet)) from exc


async def post_form(
    client: httpx.AsyncClient,
    settings: KeycloakSettings,
    url: str,
    form: Mapping[str, str],
    credentials: ClientCredentials,
) -> tuple[httpx.Response, bytes | None]:
    """POST `form` to `url` as this service's client: the answer and its body, read bounded.

    Every call as a client (token endpoint, introspection) goes through here, so each sends the
    same headers, never follows a redirect, and stops reading at `MAX_DOCUMENT_BYTES` (body None).

    Raises:
        TimeoutError: no complete answer within `settings.http_timeout_seconds`.
        httpx.HTTPError: the network failed.
        UnsupportedEncodingError: the body is compressed in a way `read_bounded` does not read.
        (Each caller words these for its own purpose.)
    """
    async with (
        asyncio.timeout(settings.http_timeout_seconds),
        client.stream(
            "POST",
            url,
            data={**form, **credentials.form},
            headers={**REQUEST_HEADERS, **credentials.headers},
            follow_redirects=False,
        ) as response,
    ):
        return response, await read_bounded(response, MAX_DOCUMENT_BYTES)


def json_object(raw: bytes) -> dict[str, Any] | None:
    """`raw` as a JSON object; None when it is not JSON or not an object (answers are then refusals)."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


async def read_bounded(response: httpx.Response, max_bytes: int) -> bytes | None:
    """The (decoded) body, or None as soon as it exceeds `max_bytes`; the rest is never read.

    Compressed bodies are inflated here, bounded, rather than by httpx, which would inflate a
    whole chunk at once: a 64 kB gzip bomb is a gigabyte in memory.
    """
    if response.is_stream_consumed:
        # Built in memory (an injected mock transport): httpx has already read and decoded it.
        return response.content if len(response.content) <= max_bytes else None
    declared = response.headers.get("Content-Length")
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("identity", ""):
        inflate = None
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            return None
    elif encoding in _INFLATED:
        inflate = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib, detected from the header
    else:
        raise UnsupportedEncodingError(encoding)
    chunks: list[bytes] = []
    size = 0
    async for raw in response.aiter_raw():
        try:
            chunk = raw if inflate is None else inflate.decompress(raw, max_bytes + 1 - size)
        except zlib.error as exc:
            raise UnsupportedEncodingError(f"{encoding} (corrupt: {exc})") from exc
        size += len(chunk)
        if size > max_bytes or (inflate is not None and inflate.unconsumed_tail):
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class UnsupportedEncodingError(Exception):
    """The body is compressed in a way this client does not read."""
