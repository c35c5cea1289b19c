"""One POST to Keycloak's token endpoint as this client: bounded read, refusal worded, no secret shown.

Client credentials and token exchange differ only in their form and in how a refusal is
explained; both go through `post_token_form`, authenticated by `ClientAuthenticator`. Caching,
sharing one request among callers, and retrying stay with the caller (`ServiceTokenClient`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from fastapi_kc._client_auth import ClientAuthenticator
from fastapi_kc._diagnostics import Diagnosis, describe_network_error, unreachable
from fastapi_kc._errors import TokenRequestError
from fastapi_kc._http import MAX_DOCUMENT_BYTES, UnsupportedEncodingError, json_object, post_form
from fastapi_kc._settings import KeycloakSettings

#: Words a refusal: (HTTP status, Keycloak's `error`, its `error_description`) -> what and how to fix.
DescribeRefusal = Callable[[int, str | None, str | None], Diagnosis]

DEFAULT_LIFETIME = 60.0  # seconds, when Keycloak's answer has no usable `expires_in`
# A Retry-After is honoured up to this long. A larger one (a proxy's mistake, `86400`, or 400
# digits that make an infinite float) would otherwise stop every service token until the
# process restarts; after the cap, one request is tried again, and a new 429 starts a new wait.
RETRY_AFTER_CAP_SECONDS: Final = 60.0


@dataclass(frozen=True, slots=True)
class CachedToken:
    """A token as a cache keeps it: renewed from `renew_at`, unusable from `expires_at` (caller's clock).

    The token itself is left out of the repr, as every token is.
    """

    value: str = field(repr=False)
    renew_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """An access token from the token endpoint and how long Keycloak says it lives (repr without the token)."""

    value: str = field(repr=False)
    lifetime: float


async def post_token_form(
    http: httpx.AsyncClient,
    settings: KeycloakSettings,
    client_auth: ClientAuthenticator,
    form: Mapping[str, str],
    describe: DescribeRefusal,
) -> IssuedToken:
    """POST `form` to the token endpoint, authenticated as this service's client.

    Raises:
        TokenRequestError: Keycloak refused (status, `error`, and `retry_after` when it sent a
            usable `Retry-After`), answered nonsense, or could not be reached.
    """
    url = settings.token_url
    try:
        response, raw = await post_form(http, settings, url, form, client_auth.credentials())
    except TimeoutError as exc:
        raise TokenRequestError(str(unreachable(settings, url, "timeout", "no complete answer in time"))) from exc
    except httpx.HTTPError as exc:
        raise TokenRequestError(str(describe_network_error(settings, url, exc))) from exc
    except UnsupportedEncodingError as exc:
        raise TokenRequestError(f"Keycloak's token endpoint {url} answered in an unreadable encoding ({exc})") from exc
    if raw is None:
        raise TokenRequestError(
            f"Keycloak's token endpoint {url} answered more than {MAX_DOCUMENT_BYTES} bytes; it is not Keycloak",
            status_code=response.status_code,
        )
    body = json_object(raw) or {}
    if response.status_code != 200:
        raise _refusal(response, body, describe)
    value, lifetime = body.get("access_token"), body.get("expires_in")
    if not isinstance(value, str) or not value:
        raise TokenRequestError(f"Keycloak's token endpoint {url} answered without an access_token", status_code=200)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
        lifetime = DEFAULT_LIFETIME
    return IssuedToken(value, float(lifetime))


def _refusal(response: httpx.Response, body: dict[str, Any], describe: DescribeRefusal) -> TokenRequestError:
    """Keycloak's refusal, worded by `describe` (the diagnostics `fastapi-kc doctor` prints too)."""
    error = body.get("error") if isinstance(body.get("error"), str) else None
    description = body.get("error_description") if isinstance(body.get("error_description"), str) else None
    diagnosis = describe(response.status_code, error, description)
    exc = TokenRequestError(str(diagnosis), status_code=response.status_code, error=error)
    retry_after = response.headers.get("Retry-After", "")
    if retry_after.isdigit():
        exc.retry_after = min(float(retry_after), RETRY_AFTER_CAP_SECONDS)  # type: ignore[attr-defined]
    return exc
