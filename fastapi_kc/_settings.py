"""Configuration from `KEYCLOAK_*` environment variables, checked when it is built.

Two Keycloak URLs are kept apart on purpose (field notes §1): `public_url` is the one browsers
use and the one Keycloak writes into `iss`; `internal_url` is the one this service uses to reach
Keycloak (in Docker or Kubernetes they differ). There is no localhost default and no secret
default: a missing value fails here, naming the variable, not at the first request.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import Field, FilePath, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from fastapi_kc._errors import ConfigurationError

logger = logging.getLogger("fastapi_kc")

ENV_PREFIX: Final = "KEYCLOAK_"

#: Asymmetric JWS algorithms (RFC 7518 §3, RFC 8037). HMAC and `none` are never accepted: the
#: realm's public keys would become HMAC secrets (RFC 8725 §2.1, §3.1).
SUPPORTED_ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


def env_name(field: str) -> str:
    """The environment variable that sets `field`."""
    return f"{ENV_PREFIX}{field.upper()}"


def _split_list(value: Any) -> Any:
    """A list setting from `a,b`, from a JSON array, or as given in Python."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a valid JSON array ({exc.msg})") from exc
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def _normalise_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an absolute http:// or https:// URL, e.g. https://auth.example.com")
    if not parts.hostname:
        raise ValueError("has no host name")
    if parts.username or parts.password:
        raise ValueError("must not contain credentials")
    if parts.query or parts.fragment:
        raise ValueError("must not contain a query or a fragment")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ValueError("has an invalid port") from exc
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


def redact_url(url: str) -> str:
    """`url` with any password replaced by `***`, for messages and logs."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:
        return "(unparsable URL)"
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:" if parts.username else ":"
    return parts._replace(netloc=f"{user}***@{netloc}").geturl()


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class KeycloakSettings(BaseSettings):
    """Where Keycloak is and what this API accepts; read from `KEYCLOAK_*` variables.

    Raises:
        ConfigurationError: a value is missing or invalid; the message names each variable.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    public_url: str = Field(description="URL browsers and clients use; the issuer is built from it")
    internal_url: str = Field(default="", description="URL this service uses to reach Keycloak; defaults to public_url")
    realm: str = Field(description="the realm's name")
    audience: Annotated[tuple[str, ...], NoDecode] = Field(
        description="the `aud` value(s) this API accepts: `api` or `api,other`"
    )
    client_id: str | None = Field(default=None, description="this service's own client, for service tokens")
    client_secret: SecretStr | None = Field(default=None, description="its secret; never printed")
    client_auth_method: Literal["client_secret_basic", "client_secret_jwt", "private_key_jwt"] = Field(
        default="client_secret_basic", description="how this service's client proves itself to Keycloak"
    )
    client_private_key_file: FilePath | None = Field(
        default=None, description="PEM file of the private key for private_key_jwt (never the key itself)"
    )
    client_key_id: str | None = Field(default=None, description="`kid` of that key, as registered in Keycloak")
    auth_path: str = Field(default="", description="`/auth` for Keycloak older than 17")
    algorithms: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("RS256",), description="allowed signature algorithms"
    )
    leeway_seconds: float = Field(default=30, ge=0, le=300, description="clock skew tolerated on exp/nbf/iat")
    jwks_cooldown_seconds: float = Field(
        default=30, ge=0, le=3600, description="least time between key-set fetches caused by unknown kids"
    )
    jwks_max_age_seconds: float = Field(
        default=600, gt=0, le=86400, description="age after which the key set is refreshed in the background"
    )
    jwks_max_stale_seconds: float = Field(
        default=86400, gt=0, description="how long known keys keep serving while Keycloak cannot be reached"
    )
    http_timeout_seconds: float = Field(default=5, gt=0, le=120, description="timeout of each call to Keycloak")
    ca_bundle: FilePath | None = Field(
        default=None, description="PEM file of the CA that signed Keycloak's certificate"
    )
    max_token_bytes: int = Field(
        default=16384, ge=1024, le=1_048_576, description="longest token accepted, checked before decoding"
    )
    token_cache_size: int = Field(
        default=4096, ge=0, le=1_000_000, description="verified tokens remembered until they expire (0: none)"
    )
    # --- revocation (fastapi_kc.revocation, docs/scaling.md) ---
    revocation_store: str = Field(
        default="memory",
        repr=False,  # a Redis URL may carry a password
        description="`memory` (one process) or a redis:// / rediss:// URL shared by the replicas",
    )
    logout_audience: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="client ids whose back-channel logout tokens this service honours, e.g. `web`"
    )
    revocation_retention_seconds: float = Field(
        default=3600, gt=0, le=7 * 86400,
        description="how long a revocation is kept: at least the longest access-token lifespan of the realm",
    )  # fmt: skip
    revocation_max_stale_seconds: float = Field(
        default=0, ge=0,
        description="0: keep serving with the known revocations while Redis is unreachable; "
        "otherwise refuse requests (503) once it has been unreachable this long",
    )  # fmt: skip
    introspect_every_request: bool = Field(
        default=False, description="ask Keycloak's introspection endpoint about every token (slow; opt-in)"
    )
    introspection_cache_seconds: float = Field(
        default=5, ge=0, le=300, description="how long an introspection answer is reused for the same token"
    )
    websocket_close_on_expiry: bool = Field(
        default=False, description="also close a WebSocket (1008) when the token it was opened with expires"
    )

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigurationError(_describe(exc)) from None
        # Here, not in a validator: only a KeycloakSettings built on its own reads KEYCLOAK_*
        # variables. Nested in an application's settings it is validated from what the parent
        # read (`KEYCLOAK__PUBLIC_URL` with `env_nested_delimiter="__"`), and those names are
        # right, not misspelt.
        _warn_about_unknown_variables(type(self))

    @field_validator("public_url", "internal_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _normalise_url(value) if value.strip() else ""

    @field_validator("realm")
    @classmethod
    def _check_realm(cls, value: str) -> str:
        value = value.strip()
        if not value or "/" in value or any(ch.isspace() for ch in value):
            raise ValueError("must be a realm name such as `demo` (no slashes or spaces)")
        return value

    @field_validator("audience", "algorithms", "logout_audience", mode="before")
    @classmethod
    def _parse_list(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("audience")
    @classmethod
    def _check_audience(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or any(not item for item in value):
            raise ValueError("must name at least one audience, e.g. `api` or `api,orders`")
        return value

    @field_validator("logout_audience")
    @classmethod
    def _check_logout_audience(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not item for item in value):
            raise ValueError("must list client ids, e.g. `web` or `web,mobile`")
        return value

    @field_validator("revocation_store")
    @classmethod
    def _check_revocation_store(cls, value: str) -> str:
        value = value.strip()
        if value == "memory":
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError(f"must be `memory` or a redis:// or rediss:// URL with a host, not {redact_url(value)!r}")
        return value

    @field_validator("algorithms")
    @classmethod
    def _check_algorithms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must allow at least one algorithm, e.g. RS256")
        for alg in value:
            if alg.lower() == "none" or alg.upper().startswith("HS"):
                raise ValueError(
                    f"{alg} cannot be allowed: Keycloak's keys are public, so `none` and HMAC would let "
                    "anyone forge tokens (RFC 8725 §3.1)"
                )
            if alg not in SUPPORTED_ALGORITHMS:
                raise ValueError(f"{alg} is not supported; choose from {', '.join(sorted(SUPPORTED_ALGORITHMS))}")
        return value

    @field_validator("auth_path")
    @classmethod
    def _check_auth_path(cls, value: str) -> str:
        value = value.strip().strip("/")
        return f"/{value}" if value else ""

    @field_validator("client_id")
    @classmethod
    def _check_client_id(cls, value: str | None) -> str | None:
        return (value or "").strip() or None

    @model_validator(mode="after")
    def _complete(self) -> KeycloakSettings:
        if not self.public_url:
            raise ValueError(f"{env_name('public_url')} must not be empty")
        if self.client_auth_method == "private_key_jwt" and self.client_private_key_file is None:
            raise ValueError(
                f"{env_name('client_auth_method')}=private_key_jwt needs {env_name('client_private_key_file')}: "
                "the path of the client's PEM private key"
            )
        if not self.internal_url:
            # Frozen model: the one place a derived default is written, right after validation.
            object.__setattr__(self, "internal_url", self.public_url)
        fields = ("public_url",) if self.internal_url == self.public_url else ("public_url", "internal_url")
        for field in fields:
            parts = urlsplit(getattr(self, field))
            if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
                logger.warning(
                    "%s uses plain http on %s: acceptable in development only; use https in production",
                    env_name(field),
                    parts.hostname,
                )
        return self

    # --- derived, read-only ---------------------------------------------------------------

    @property
    def issuer(self) -> str:
        """The `iss` Keycloak writes into tokens: built from the *public* URL."""
        return f"{self.public_url}{self.auth_path}/realms/{self.realm}"

    @property
    def internal_realm_url(self) -> str:
        return f"{self.internal_url}{self.auth_path}/realms/{self.realm}"

    @property
    def discovery_url(self) -> str:
        """OpenID discovery document, read through the *internal* URL."""
        return f"{self.internal_realm_url}/.well-known/openid-configuration"

    @property
    def jwks_url(self) -> str:
        """The realm's key set, through the *internal* URL (never the public `jwks_uri`)."""
        return f"{self.internal_realm_url}/protocol/openid-connect/certs"

    @property
    def token_url(self) -> str:
        """Token endpoint for this service's own client-credentials requests (internal URL)."""
        return f"{self.internal_realm_url}/protocol/openid-connect/token"

    @property
    def introspection_url(self) -> str:
        """Token introspection (RFC 7662) for this service's own client (internal URL)."""
        return f"{self.internal_realm_url}/protocol/openid-connect/token/introspect"

    @property
    def authorization_url(self) -> str:
        """Login page for browsers (public URL), as Swagger UI needs it."""
        return f"{self.issuer}/protocol/openid-connect/auth"

    @property
    def browser_token_url(self) -> str:
        """Token endpoint as browsers reach it (public URL), for Swagger UI's PKCE login."""
        return f"{self.issuer}/protocol/openid-connect/token"


def _warn_about_unknown_variables(settings: type[KeycloakSettings]) -> None:
    """A misspelt variable (KEYCLOAK_AUDIANCE, KEYCLOAK_VERIFY=false) would otherwise do nothing.

    `KEYCLOAK__...` names are an application's nested settings (its `env_nested_delimiter`),
    not misspellings of ours.
    """
    known = {env_name(name) for name in settings.model_fields}
    nested = f"{ENV_PREFIX}_"
    for name in sorted(os.environ):
        upper = name.upper()
        if upper.startswith(ENV_PREFIX) and not upper.startswith(nested) and upper not in known:
            logger.warning(
                "%s is not a fastapi_kc setting and is ignored (settings: %s)", name, ", ".join(sorted(known))
            )


def _describe(exc: ValidationError) -> str:
    """One line per bad setting, naming its variable; never the value of a secret."""
    lines = ["Invalid Keycloak settings:"]
    for error in exc.errors(include_url=False, include_input=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "required but not set"
        elif error["type"] == "extra_forbidden":
            lines.append(f"  {field}: not a setting of KeycloakSettings")
            continue
        if not field:  # a rule across settings: its message names the variables
            lines.append(f"  {message}")
            continue
        lines.append(f"  {env_name(field)} ({field}): {message}")
    return "\n".join(lines)
