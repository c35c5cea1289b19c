"""Access tokens shaped like Keycloak 26's, and the key that signs them.

The claims follow what Keycloak 26.5 issues (field notes §3 and "Keycloak 26.5, observed"):
every access token carries `typ: Bearer`, `azp`, `realm_access` with the realm's default roles,
`resource_access` and a space-separated `scope`; a user's token has a session (`sid`); a
client-credentials token has none, but a `client_id` claim and the username
`service-account-<client>`. Whatever a test gives in `claims` goes over the top, and None
removes a claim, so a test can also build the odd tokens an application must refuse.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from joserfc import jwt
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey

LIFETIME: Final = 300  # Keycloak's default access token lifespan: five minutes
USER_SCOPES: Final = ("openid", "profile", "email")  # what a login through a client gets by default
SERVICE_SCOPES: Final = ("profile", "email")  # the client-credentials grant gets no `openid`
_EC_CURVES: Final = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}

Audience = str | Sequence[str]


@dataclass(frozen=True, slots=True)
class Realm:
    """What a token needs from the settings of the auth under test."""

    name: str
    issuer: str
    audience: tuple[str, ...]


class SigningKey:
    """A fresh private key of the realm: a new one per mock, so one mock's tokens fail in another.

    RS256 when the settings allow it (Keycloak's default), otherwise the first allowed
    algorithm, so that an API configured for ES256 or EdDSA is tested with such keys.
    """

    def __init__(self, algorithms: Sequence[str]) -> None:
        self.alg = "RS256" if "RS256" in algorithms else algorithms[0]
        key: RSAKey | ECKey | OKPKey
        if self.alg[:2] in ("RS", "PS"):
            key = RSAKey.generate_key(2048, auto_kid=True)
        elif self.alg in _EC_CURVES:
            key = ECKey.generate_key(_EC_CURVES[self.alg], auto_kid=True)
        else:
            key = OKPKey.generate_key("Ed25519", auto_kid=True)
        self._key = key
        self.kid = str(key.kid)

    def jwk(self) -> dict[str, Any]:
        """The public key as the realm's JWKS lists it."""
        return {**self._key.as_dict(private=False), "kid": self.kid, "alg": self.alg, "use": "sig"}

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"alg": self.alg, "typ": "JWT", "kid": self.kid}
        with warnings.catch_warnings():
            # joserfc flags EdDSA as deprecated (RFC 9864); an API that allows it is tested with it.
            warnings.simplefilter("ignore", SecurityWarning)
            return jwt.encode(header, claims, self._key, algorithms=[self.alg])

    def verified_claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this key signed, or None for anything else (times not checked)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)
            try:
                return dict(jwt.decode(token, self._key, algorithms=[self.alg]).claims)
            except (JoseError, ValueError, TypeError):
                return None


def _aud(realm: Realm, audience: Audience | None) -> str | list[str]:
    # Keycloak writes a single audience as a string and several as an array.
    values = realm.audience if audience is None else (audience,) if isinstance(audience, str) else tuple(audience)
    return values[0] if len(values) == 1 else list(values)


def _unique(*groups: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(item for group in groups for item in group))


def _common(
    realm: Realm,
    *,
    now: float,
    expires_in: float,
    audience: Audience | None,
    realm_roles: Iterable[str],
    client_roles: Mapping[str, Iterable[str]],
    scopes: Iterable[str],
    default_scopes: Iterable[str],
) -> dict[str, Any]:
    issued = int(now)
    expires = int(now + expires_in)
    return {
        "exp": expires,
        # An already expired token was issued one lifetime before it expired, as a real one was.
        "iat": issued if expires > issued else expires - LIFETIME,
        "jti": str(uuid.uuid4()),
        "iss": realm.issuer,
        "aud": _aud(realm, audience),
        "typ": "Bearer",
        "realm_access": {
            "roles": _unique([f"default-roles-{realm.name}", "offline_access", "uma_authorization"], realm_roles)
        },
        "resource_access": {client: {"roles": _unique(roles)} for client, roles in client_roles.items()},
        "scope": " ".join(_unique(default_scopes, scopes)),
    }


def _finish(claims: dict[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    claims.update(overrides or {})
    return {name: value for name, value in claims.items() if value is not None}


def user_claims(
    realm: Realm,
    *,
    now: float,
    username: str,
    subject: str | None,
    email: str | None,
    realm_roles: Iterable[str],
    client_roles: Mapping[str, Iterable[str]],
    scopes: Iterable[str],
    audience: Audience | None,
    expires_in: float,
    claims: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """A user's access token after a login through the client `web`."""
    common = _common(realm, now=now, expires_in=expires_in, audience=audience, realm_roles=realm_roles,
                     client_roles=client_roles, scopes=scopes, default_scopes=USER_SCOPES)  # fmt: skip
    return _finish(
        {
            # No `auth_time`: the pinned Keycloak (26.5) writes it only after an interactive login, never
            # into a password-grant token, which is what these stand for (test_real_keycloak, test_step_up).
            # A test of `require_auth_age` gives one: claims={"auth_time": ...}.
            **common,
            # The same username gives the same subject in every token of a realm, as in Keycloak.
            "sub": subject or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{realm.issuer}/users/{username}")),
            "azp": "web",
            "sid": str(uuid.uuid4()),
            "acr": "1",
            "email_verified": email is not None,
            "preferred_username": username,
            "email": email,
        },
        claims,
    )


def service_claims(
    realm: Realm,
    client_id: str,
    *,
    now: float,
    subject: str | None,
    realm_roles: Iterable[str],
    client_roles: Mapping[str, Iterable[str]],
    scopes: Iterable[str],
    audience: Audience | None,
    expires_in: float,
    claims: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """A client-credentials token of `client_id`: no session, `client_id`, `service-account-<client>`."""
    common = _common(realm, now=now, expires_in=expires_in, audience=audience, realm_roles=realm_roles,
                     client_roles=client_roles, scopes=scopes, default_scopes=SERVICE_SCOPES)  # fmt: skip
    return _finish(
        {
            **common,
            "sub": subject or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{realm.issuer}/service-accounts/{client_id}")),
            "azp": client_id,
            "acr": "1",
            "clientHost": "127.0.0.1",
            "email_verified": False,
            "preferred_username": f"service-account-{client_id}",
            "clientAddress": "127.0.0.1",
            "client_id": client_id,
        },
        claims,
    )


def exchanged_claims(
    subject: Mapping[str, Any], realm: Realm, client_id: str, *, audience: str | None, scopes: Iterable[str], now: float
) -> dict[str, Any]:
    """The token Keycloak's standard token exchange gives `client_id` for a user's token.

    The user stays (`sub`, username, roles, session); `aud` is the requested audience only
    (the auth's own when none is asked for), `azp` the requesting client, the times are new.
    """
    scope = subject.get("scope")
    return {
        **subject,
        "exp": int(now) + LIFETIME,
        "iat": int(now),
        "jti": str(uuid.uuid4()),
        "aud": _aud(realm, audience),
        "azp": client_id,
        "scope": " ".join(_unique(scope.split() if isinstance(scope, str) else (), scopes)),
    }
