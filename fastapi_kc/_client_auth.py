"""How this service proves to Keycloak which client it is: one place for every call it makes as a client.

Service tokens, token exchange and introspection all authenticate the same way, chosen by
`KEYCLOAK_CLIENT_AUTH_METHOD` (Keycloak's name for each in Clients > <client> > Credentials):

- `client_secret_basic` ("Client Id and Secret"): RFC 6749 §2.3.1, HTTP Basic with both parts
  form-urlencoded first.
- `client_secret_jwt` ("Signed JWT with Client Secret"): RFC 7523 §2.2, a JWT signed with HS256
  under the client secret; the secret itself never travels.
- `private_key_jwt` ("Signed JWT"): RFC 7523 §2.2, a JWT signed with the client's private key,
  read from a PEM file (`KEYCLOAK_CLIENT_PRIVATE_KEY_FILE`, never the key in a variable); Keycloak
  holds only the public key, so there is no shared secret to leak.

Each assertion lives 60 seconds and carries a fresh `jti`: Keycloak refuses a reused one
(JWTClientValidator: reuse not permitted) and one issued too long ago. Its `aud` is the realm's
issuer, a single string: Keycloak accepts the issuer or one of its endpoints but by default only
one audience, and the issuer is what the OpenID Foundation's 2025 advisory on audience
injection recommends.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from fastapi_kc._errors import ConfigurationError
from fastapi_kc._settings import KeycloakSettings, env_name

ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"  # RFC 7523 §2.2
ASSERTION_LIFETIME: Final = 60  # seconds; Keycloak's default limit for a client assertion's age
_MIN_HMAC_SECRET_BYTES: Final = 32  # RFC 7518 §3.2: an HS256 key MUST be at least 256 bits
_EC_ALGORITHMS: Final = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}

SigningKey = RSAKey | ECKey | OctKey


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """What one token-endpoint request carries to authenticate: form fields and headers.

    Left out of the repr: the Basic header is the client secret, base64-encoded, and the form a
    signed assertion; neither may reach a log line or a traceback's locals.
    """

    form: dict[str, str] = field(default_factory=dict, repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)


class ClientAuthenticator:
    """Credentials for each request of `settings.client_id`, by `settings.client_auth_method`.

    Build it once (the key file is read and checked here), then call `credentials()` for each
    request: a signed assertion is never reused.

    Raises:
        ConfigurationError: the client id, the secret or the key is missing or unusable; the
            message names the variable, never the secret or key.
    """

    def __init__(self, settings: KeycloakSettings, *, clock: Callable[[], float] = time.time) -> None:
        if not settings.client_id:
            raise ConfigurationError(
                f"calls to Keycloak as a client need {env_name('client_id')} and its credential: "
                f"{env_name('client_secret')}, or {env_name('client_private_key_file')} with "
                f"{env_name('client_auth_method')}=private_key_jwt (a confidential client of realm {settings.realm!r})"
            )
        self.client_id: str = settings.client_id
        self.method = settings.client_auth_method
        self._audience = settings.issuer
        self._clock = clock
        self._basic: str | None = None
        self._key: SigningKey | None = None
        self._header: dict[str, str] = {}
        if self.method == "private_key_jwt":
            self._key, alg = _load_private_key(settings)
            self._header = {"alg": alg, "typ": "JWT"}
            if settings.client_key_id:
                self._header["kid"] = settings.client_key_id
            return
        secret = settings.client_secret.get_secret_value() if settings.client_secret is not None else ""
        if not secret:
            raise ConfigurationError(
                f"{env_name('client_auth_method')}={self.method} needs {env_name('client_secret')}: the secret of "
                f"client {self.client_id!r} (Keycloak: Clients > {self.client_id} > Credentials)"
            )
        if self.method == "client_secret_basic":
            # RFC 6749 §2.3.1: both parts form-urlencoded before the Basic encoding.
            pair = f"{quote(self.client_id, safe='')}:{quote(secret, safe='')}"
            self._basic = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
            return
        if len(secret.encode()) < _MIN_HMAC_SECRET_BYTES:
            raise ConfigurationError(
                f"{env_name('client_secret')} is shorter than {_MIN_HMAC_SECRET_BYTES} bytes, too short to sign "
                "client_secret_jwt assertions with HS256 (RFC 7518 §3.2); regenerate it in Keycloak "
                f"(Clients > {self.client_id} > Credentials), whose secrets are long enough"
            )
        self._key = OctKey.import_key(secret)
        self._header = {"alg": "HS256", "typ": "JWT"}

    def __repr__(self) -> str:
        return f"ClientAuthenticator(client_id={self.client_id!r}, method={self.method!r})"

    def credentials(self) -> ClientCredentials:
        """What to add to one request; a fresh assertion each time for the JWT methods."""
        if self._basic is not None:
            return ClientCredentials(headers={"Authorization": self._basic})
        if self._key is None:  # pragma: no cover - every method sets one of the two
            raise AssertionError(self.method)
        now = int(self._clock())
        claims = {
            # RFC 7523 §3: iss and sub are the client id, aud the authorization server.
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self._audience,
            "jti": secrets.token_urlsafe(24),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        }
        assertion = jwt.encode(self._header, claims, self._key, algorithms=[self._header["alg"]])
        # client_id as well: Keycloak finds the client by it before reading the assertion.
        form = {"client_id": self.client_id, "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}
        return ClientCredentials(form=form)


def _load_private_key(settings: KeycloakSettings) -> tuple[SigningKey, str]:
    """The key of `KEYCLOAK_CLIENT_PRIVATE_KEY_FILE` and the JWS algorithm it signs with."""
    path = settings.client_private_key_file
    variable = env_name("client_private_key_file")
    if path is None:  # the settings refuse private_key_jwt without it; kept for the type checker
        raise ConfigurationError(f"{env_name('client_auth_method')}=private_key_jwt needs {variable}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"{variable}: cannot read {path} ({exc.strerror})") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        # The parser's own message could quote the file: say only what is wrong.
        raise ConfigurationError(
            f"{variable}: {path} is not an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----); "
            "convert it with `openssl pkcs8 -topk8 -nocrypt`"
        ) from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise ConfigurationError(f"{variable}: an RSA key of {key.key_size} bits is too small; use 2048 or more")
        return RSAKey.import_key(key), "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _EC_ALGORITHMS:
        return ECKey.import_key(key), _EC_ALGORITHMS[key.curve.name]
    # No Ed25519: joserfc deprecates "EdDSA" (RFC 9864) and Keycloak 26.5 knows no "Ed25519" for clients.
    raise ConfigurationError(
        f"{variable}: {path} holds a {type(key).__name__}; use an RSA (RS256) or EC P-256/384/521 (ES256/384/512) key"
    )
