"""Who is calling: an immutable view of a verified access token.

Realm roles and the roles of each client stay apart (`has_role("x")` never matches a client
role). A service account is recognised from what Keycloak puts only into client-credentials
tokens, never from a missing email (field notes §3). Claims of an unexpected JSON type give
nothing rather than something wrong: a string is not a list of roles.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

from fastapi_kc import _principal_data
from fastapi_kc._claim_values import (
    NO_ROLES,
    client_grant,
    is_service_account_token,
    parse_bool,
    read_audience,
    read_client_roles,
    read_roles,
    read_str,
    read_time,
)

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler
    from pydantic_core import CoreSchema

from fastapi_kc._frozen import freeze


class Principal:
    """The caller of a request, built from a verified access token. Immutable, claims included.

    Works as Starlette's `request.user` (`is_authenticated`, `display_name`, `identity`) and
    exposes `grants` for Starlette's `@requires`: `authenticated`, `realm:<role>`,
    `client:<client>:<role>` (see `client_grant`: `%` and `:` in the client id are
    percent-encoded) and `scope:<scope>`.

    Fields are read from the claims when first used and then kept: most requests look at two
    or three of them, and building all of them would cost more than the signature check.

    A Principal is also data: a route may return it (`-> Principal`, `response_model`), a
    pydantic model may hold it, and `to_dict()`, `jsonable_encoder`, `pickle` and `copy` work.
    What is shown is `public_fields`, never the raw claims unless asked. Subclass it to add typed
    properties read from your own claims, list them in `public_fields`, and pass the class as
    `KeycloakAuth(..., principal_class=...)`.

    `verified_by` names the verifier that checked the token (its issuer and audiences), so
    that a principal counts only for the `KeycloakAuth` that verified it: a token another
    auth accepted is no proof for this one. A principal built by hand is bound to nothing.
    """

    __slots__ = ("_cache", "_claims", "_verified_by", "subject")

    subject: str
    _claims: Mapping[str, Any]
    _cache: dict[str, Any]
    _verified_by: Hashable | None

    #: The fields serialised by `to_dict()`, pydantic and FastAPI responses, in this order. The
    #: session id and the raw claims are left out on purpose; a subclass adds its own properties
    #: (or `"claims"`) with `public_fields = (*Principal.public_fields, "tenant")`.
    public_fields: ClassVar[tuple[str, ...]] = (
        "subject", "username", "email", "is_service_account", "client_id", "authorized_party",
        "realm_roles", "client_roles", "scopes", "audience", "groups", "issued_at", "expires_at",
    )  # fmt: skip

    def __init__(self, claims: Mapping[str, Any], *, verified_by: Hashable | None = None) -> None:
        """Take over `claims` (not copied: the caller must not change them afterwards)."""
        _fill(self, claims, verified_by)

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], *, verified_by: Hashable | None = None) -> Self:
        """Build from the claims of a token that has passed every check (taken over, not copied)."""
        return cls(claims, verified_by=verified_by)

    @property
    def claims(self) -> Mapping[str, Any]:
        """All claims, deeply read-only: JSON objects are read-only dicts, JSON arrays tuples.

        A verified principal is cached and shared by every request presenting the same token:
        a handler that could append to `claims["realm_access"]["roles"]` would grant that role
        to the next request. Frozen once per principal, on first use (most requests never read
        the raw claims, so new tokens do not pay for it), and never per cache hit.
        """
        result: Mapping[str, Any] = self._memo("claims", lambda: freeze(self._claims))
        return result

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Principal is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Principal is immutable; cannot delete {name!r}")

    # --- as data ---------------------------------------------------------------------------------

    def to_dict(self, *, claims: bool = False) -> dict[str, Any]:
        """The public fields in JSON's types (sets as sorted lists, times as ISO 8601 strings).

        `claims=True` adds the raw claims under `"claims"`. `json.dumps(principal.to_dict())` works.
        """
        return _principal_data.to_dict(self, claims=claims)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        """`(field, value)` pairs, as pydantic models give: `dict(principal)` and `jsonable_encoder` work."""
        return iter(self.to_dict().items())

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return _principal_data.pydantic_schema(cls, handler)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its class and claims; the field cache is rebuilt on use.

        Not the auth that verified it: an unpickled Principal is data (from a cache, a queue),
        never proof of a verified token, so no dependency takes it as the request's caller.
        """
        return (type(self), (_principal_data.thaw(self._claims),))

    def __copy__(self) -> Principal:
        return self  # immutable: a copy could not differ

    def __deepcopy__(self, memo: dict[int, Any]) -> Principal:
        return self

    def __eq__(self, other: object) -> bool:
        # The frozen forms: a list and the tuple it froze into are not equal.
        return isinstance(other, Principal) and self.claims == other.claims

    def __hash__(self) -> int:
        return hash((self.subject, str(self._claim("jti")), str(self._claim("iat"))))

    def _claim(self, name: str) -> Any:
        """One claim as given; callers only ever keep immutable values built from it."""
        return self._claims.get(name)

    def _memo(self, name: str, build: Callable[[], Any]) -> Any:
        cache = self._cache
        try:
            return cache[name]
        except KeyError:
            value = cache[name] = build()
            return value

    # --- identity ------------------------------------------------------------------------------

    @property
    def username(self) -> str | None:
        """`preferred_username`."""
        return read_str(self._claim("preferred_username"))

    @property
    def email(self) -> str | None:
        return read_str(self._claim("email"))

    @property
    def authorized_party(self) -> str | None:
        """`azp`: the client the token was issued to."""
        return read_str(self._claim("azp"))

    @property
    def client_id(self) -> str | None:
        """The `client_id` claim (`clientId` before Keycloak 26) of a client-credentials token."""
        return read_str(self._claim("client_id")) or read_str(self._claim("clientId"))

    @property
    def is_service_account(self) -> bool:
        """True only for client-credentials tokens, decided explicitly (see `is_service_account_token`)."""
        result: bool = self._memo("is_service_account", lambda: is_service_account_token(self._claims))
        return result

    @property
    def session_id(self) -> str | None:
        """`sid` (or the older `session_state`); service accounts have none."""
        return read_str(self._claim("sid")) or read_str(self._claim("session_state"))

    @property
    def acr(self) -> str | None:
        return read_str(self._claim("acr"))

    # --- authorisation -------------------------------------------------------------------------

    @property
    def realm_roles(self) -> frozenset[str]:
        result: frozenset[str] = self._memo("realm_roles", lambda: read_roles(self._claim("realm_access")))
        return result

    @property
    def client_roles(self) -> Mapping[str, frozenset[str]]:
        """Roles per client (`resource_access`), never mixed with realm roles."""
        result: Mapping[str, frozenset[str]] = self._memo(
            "client_roles", lambda: read_client_roles(self._claim("resource_access"))
        )
        return result

    @property
    def scopes(self) -> frozenset[str]:
        def build() -> frozenset[str]:
            scope = self._claim("scope")
            return frozenset(scope.split()) if isinstance(scope, str) else frozenset()

        result: frozenset[str] = self._memo("scopes", build)
        return result

    @property
    def audience(self) -> frozenset[str]:
        result: frozenset[str] = self._memo("audience", lambda: read_audience(self._claim("aud")))
        return result

    @property
    def groups(self) -> tuple[str, ...]:
        groups = self._claim("groups")
        return tuple(g for g in groups if isinstance(g, str)) if isinstance(groups, tuple | list) else ()

    # --- times ---------------------------------------------------------------------------------

    @property
    def issued_at(self) -> datetime | None:
        return read_time(self._claim("iat"))

    @property
    def expires_at(self) -> datetime | None:
        return read_time(self._claim("exp"))

    @property
    def auth_time(self) -> datetime | None:
        return read_time(self._claim("auth_time"))

    def has_role(self, role: str, client: str | None = None) -> bool:
        """A realm role, or with `client` a role of that client; the two are never mixed."""
        if client is None:
            return role in self.realm_roles
        return role in self.client_roles.get(client, NO_ROLES)

    def claim_bool(self, name: str) -> bool:
        """Claim `name` read as a boolean whatever shape Keycloak gave it; missing is false."""
        return parse_bool(self._claim(name))

    # --- Starlette's user protocol ---------------------------------------------------------

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.username or self.client_id or self.subject

    @property
    def identity(self) -> str:
        return self.subject

    @property
    def grants(self) -> tuple[str, ...]:
        """Everything this caller holds, as strings for Starlette's `AuthCredentials`/`@requires`."""

        def build() -> tuple[str, ...]:
            grants = ["authenticated"]
            grants += [f"realm:{role}" for role in sorted(self.realm_roles)]
            grants += [client_grant(c, role) for c, roles in self.client_roles.items() for role in sorted(roles)]
            grants += [f"scope:{scope}" for scope in sorted(self.scopes)]
            return tuple(grants)

        result: tuple[str, ...] = self._memo("grants", build)
        return result

    @staticmethod
    def client_grant(client: str, role: str) -> str:
        """The grant of `role` of `client` as `grants` lists it, for `@requires(...)`.

        `Principal.client_grant("urn:shop", "api:admin")` is `"client:urn%3Ashop:api:admin"`: the
        client id is percent-encoded so that no two (client, role) pairs give the same string.
        """
        return client_grant(client, role)

    def __repr__(self) -> str:
        kind = "service account" if self.is_service_account else "user"
        return f"Principal({kind} {self.display_name!r}, subject={self.subject!r})"


_PrincipalT = TypeVar("_PrincipalT", bound=Principal)


def _constructed_as_principal(cls: type[Principal]) -> bool:
    """Whether building `cls` runs nothing but `Principal`'s own constructors: no `__new__`,
    `__init__` or `from_claims` of its own or of any base (a mixin before or after `Principal`),
    and no metaclass `__call__`. What resolves is compared, not what each class defines."""
    return (
        cls.__new__ is object.__new__
        and cls.__init__ is Principal.__init__
        and getattr(cls.from_claims, "__func__", None) is getattr(Principal.from_claims, "__func__", None)
        and type(cls).__call__ is type.__call__
    )


def principal_builder(cls: type[_PrincipalT]) -> Callable[[Mapping[str, Any], Hashable], _PrincipalT]:
    """How a verifier builds principals of `cls` from claims that passed every rule, bound to it.

    `from_claims` goes through `type.__call__` and `__init__` with a keyword, about twice what
    filling the four slots costs; a verifier builds one principal for every new token. So for
    `Principal` and every subclass that keeps its constructors (the usual subclass only adds
    properties), the slots are filled directly; any other class is built through `from_claims`.
    The choice is made once, when the verifier is built.
    """
    if not _constructed_as_principal(cls):
        return lambda claims, verified_by: cls.from_claims(claims, verified_by=verified_by)
    new = object.__new__

    def build(claims: Mapping[str, Any], verified_by: Hashable) -> _PrincipalT:
        principal = new(cls)
        _fill(principal, claims, verified_by)
        return principal

    return build


def _fill(principal: Principal, claims: Mapping[str, Any], verified_by: Hashable | None) -> None:
    """Set a new principal's slots: what `__init__` does, and `principal_builder`'s builders."""
    sub = claims.get("sub")
    if not isinstance(sub, str):
        raise TypeError("a Principal needs a string `sub` claim")
    # Through the slots' own setters (`__setattr__` refuses): one is built for every new token.
    _set_subject(principal, sub)
    # Private: every field is built from it into immutable values (frozensets, tuples of
    # strings); only `claims` exposes the claims, and only deeply frozen.
    _set_claims(principal, claims)
    _set_cache(principal, {})
    _set_verified_by(principal, verified_by)


def _slot_setter(name: str) -> Callable[[Principal, Any], None]:
    """The setter of one of `Principal`'s slots, which `Principal.__setattr__` refuses to set."""
    setter: Callable[[Principal, Any], None] = vars(Principal)[name].__set__
    return setter


_set_subject = _slot_setter("subject")
_set_claims = _slot_setter("_claims")
_set_cache = _slot_setter("_cache")
_set_verified_by = _slot_setter("_verified_by")
