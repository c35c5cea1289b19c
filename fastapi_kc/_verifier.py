"""Token verification: strict parse, key by `kid`, signature, claims, Principal; and a cache.

The order matters: nothing from the payload is read, let alone trusted, before the signature
verifies (role checks come later still, in the framework glue). A token verified a second
time is answered from a bounded cache from then on until it expires, so a client calling many
times pays the signature check twice (a token seen once is not kept: see `_seen_once`); an
entry is dropped as soon as its key leaves the realm's key set.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from time import perf_counter
from typing import Any, Final, NamedTuple

from fastapi_kc._bearer import AUTHORIZATION
from fastapi_kc._claims import check_access_token, check_issuer, check_times
from fastapi_kc._diagnostics import token_refused
from fastapi_kc._errors import AuthError, InvalidTokenError
from fastapi_kc._jwks import KeySetCache
from fastapi_kc._jws import b64url_decode, decode_json_object, parse_compact, verified_payload, verify_signature
from fastapi_kc._keys import KeySet, VerificationKey
from fastapi_kc._metrics import NO_METRICS, MetricsSink
from fastapi_kc._principal import Principal, principal_builder
from fastapi_kc._revocations import RevocationList
from fastapi_kc._settings import KeycloakSettings
from fastapi_kc._text import printable

_WARNING_INTERVAL = 60.0  # seconds between two warnings of one configuration-type refusal


# The cache is keyed by a token's last bytes (its signature's, 192 bits of them): hashing
# those costs nothing next to hashing a whole 1-2 kB token, which a request would otherwise pay
# on every call (its header is a new object each time). Each entry holds the whole header
# `Bearer <token>`, and nothing is answered from the cache unless the header presented equals
# it byte for byte. A key is the same for the token and for its header: every signed token
# is longer than the key (an ES256 signature alone is 86 characters).
_KEY_CHARS: Final = 32
_SCHEME: Final = b"Bearer "  # the one spelling of the scheme the cache answers for
_SIGHTINGS_MASK: Final = (1 << 16) - 1  # 64 KiB of one-byte tags (see `_seen_once`)


class _Verified(NamedTuple):
    header: bytes  # b"Bearer " + the token, as a request sends it
    principal: Principal
    good_until: float  # `exp` plus the leeway
    key: VerificationKey
    session_id: str | None
    subject: str
    issued_at: float | None


class TokenVerifier:
    """Verifies access tokens for one API against one realm's key cache."""

    def __init__(
        self,
        settings: KeycloakSettings,
        keys: KeySetCache,
        clock: Callable[[], float],
        principal_class: type[Principal] = Principal,
        revocations: RevocationList | None = None,
        *,
        metrics: MetricsSink = NO_METRICS,
    ) -> None:
        self._keys = keys
        self._new_principal = principal_builder(principal_class)
        self.revocations = revocations if revocations is not None else RevocationList(clock)
        self._clock = clock
        self._settings = settings
        self._issuer = settings.issuer
        self._audiences = frozenset(settings.audience)
        # What a principal is bound to: dependencies reuse one only when their own verifier
        # would have accepted the same token for the same API (issue 10, item 1).
        self.binding: tuple[str, frozenset[str]] = (self._issuer, self._audiences)
        self._algorithms = frozenset(settings.algorithms)
        self._leeway = settings.leeway_seconds
        self._max_bytes = settings.max_token_bytes
        self._cache_size = settings.token_cache_size
        # An OrderedDict: evicting the oldest entry of a plain dict (`next(iter(d))`) walks the
        # holes its earlier deletions left, several microseconds per new token once it is full.
        self._cache: OrderedDict[bytes, _Verified] = OrderedDict()
        self._sightings = bytearray(_SIGHTINGS_MASK + 1)  # tokens verified once, not (yet) cached
        self._warned_at: dict[str, float] = {}
        # Bound once: the request path calls them without looking anything up. Without metrics,
        # nothing is called at all: a cache hit is not counted, a verification not even timed.
        self._cache_hit = None if metrics is NO_METRICS else metrics.token_cache_hit
        self._verified = None if metrics is NO_METRICS else metrics.token_verified
        # A cached entry needs no key check while the key set is young (`fresh_until`): an entry
        # whose key leaves the set is dropped in the same step the new set arrives.
        keys.on_replaced(self._drop_untrusted)

    def cached_request(self, headers: Iterable[tuple[bytes, bytes]]) -> Principal | None:
        """The caller of a request whose one Authorization header is `Bearer <token>`, with a
        token verified before and still good; else None.

        Synchronous, for the request path (no coroutine to build and await, no copy of the
        token): the middleware and the dependencies ask here first. None means "ask `verify`",
        which decides, logs and raises: an unknown token, an expired one, one whose key was
        rotated out, one of an ended session, another spelling of the scheme, or a second
        Authorization header all get None here.

        The header scan is done here, not by a helper: each call is about half a microsecond in
        a busy server, where this whole step costs two to three.
        """
        found = None
        for name, value in headers:
            # ASGI servers send names in lower case (compared first: no lower-cased copy); other
            # spellings are read too, so that a second Authorization header never goes unnoticed.
            if len(name) == 13 and (name == AUTHORIZATION or name.lower() == AUTHORIZATION):
                if found is not None:
                    return None
                found = value
        if found is None:
            return None
        hit = self._cache.get(found[-_KEY_CHARS:])
        if hit is None or hit.header != found:
            return None
        now = self._clock()
        keys = self._keys
        # While the set is young no key check is needed at all: entries of a key that left or
        # changed were dropped when the new set arrived (`_drop_untrusted`).
        if now > hit.good_until or (now > keys.fresh_until and not keys.is_current(hit.key, now)):
            return None
        if self.revocations.active:
            try:
                self.revocations.check(hit.session_id, hit.subject, hit.issued_at)
            except AuthError:
                return None
        if self._cache_hit is not None:
            self._cache_hit()
        return hit.principal

    async def verify(self, token: str) -> Principal:
        """The caller behind `token`.

        Raises:
            InvalidTokenError: the token is malformed, forged, expired, or not for this API.
            KeysUnavailableError: its key is unknown and Keycloak cannot be reached.
        """
        # One coroutine, no helper layers: this runs on every request.
        claims: dict[str, Any] | None = None
        kid: str | None = None
        started: float | None = None
        try:
            if not isinstance(token, str):
                raise InvalidTokenError("token is not a string", reason="malformed")
            # The size limit comes before any decoding: a huge token costs nothing but this check.
            if len(token) > self._max_bytes:
                raise InvalidTokenError("token is too large", reason="too_large")
            now = self._clock()
            slot = token[-_KEY_CHARS:].encode("ascii", "replace")  # not ASCII: no hit, refused below
            hit = self._cache.get(slot)
            if hit is not None and token.isascii() and hit.header == _SCHEME + token.encode("ascii"):
                if now <= hit.good_until and self._keys.is_current(hit.key, now):
                    # Ended sessions are refused from the cache too: at most two dict look-ups, no I/O.
                    if self.revocations.active:
                        self.revocations.check(hit.session_id, hit.subject, hit.issued_at)
                    if self._cache_hit is not None:
                        self._cache_hit()
                    return hit.principal
                del self._cache[slot]

            if self._verified is not None:
                started = perf_counter()
            parsed = parse_compact(token, allowed_algorithms=self._algorithms)
            kid = parsed.kid
            keys = self._keys
            key = keys.current.get(kid) if now <= keys.fresh_until else None  # a young set: no call
            if key is None:
                key = await keys.signing_key(kid)
            # `verified_payload`'s two steps inline, one call less per new token. Only now, with
            # the signature verified, is anything read from the payload.
            verify_signature(key, parsed)
            claims = decode_json_object(b64url_decode(parsed.payload_segment), "payload")
            expires = check_access_token(
                claims, issuer=self._issuer, audiences=self._audiences, now=now, leeway=self._leeway
            )
            principal = self._new_principal(claims, self.binding)
            remember = self._seen_once(slot)
            if remember or self.revocations.active:
                sid, iat = claims.get("sid"), claims.get("iat")
                session_id = sid if isinstance(sid, str) else None
                issued_at = float(iat) if isinstance(iat, int | float) and not isinstance(iat, bool) else None
                self.revocations.check(session_id, principal.subject, issued_at)
                if remember:
                    self._remember(slot, _Verified(
                        _SCHEME + token.encode("ascii"), principal, expires + self._leeway, key, session_id,
                        principal.subject, issued_at,
                    ))  # fmt: skip
            if self._verified is not None and started is not None:
                self._verified(perf_counter() - started, True)
            return principal
        except AuthError as exc:
            if self._verified is not None and started is not None:
                self._verified(perf_counter() - started, False)
            self._explain(exc, claims, kid)
            raise

    async def verify_introspected(
        self, token: str, introspect: Callable[[str], Awaitable[dict[str, Any]]]
    ) -> Principal:
        """The caller behind `token`, with Keycloak's introspection answer as the source of the
        claims the token does not carry itself (Keycloak's lightweight access tokens).

        The signature, times and issuer are checked locally first, so junk never costs a call
        to Keycloak; the audience, type and subject rules then run on the token's own claims
        completed by the answer (the signed claims win where both have one). Not cached here:
        the introspector caches its answers.

        Raises:
            InvalidTokenError: as `verify`, or the token is not active.
            UnavailableError: Keycloak gave no usable introspection answer.
        """
        claims: dict[str, Any] | None = None
        kid: str | None = None
        started = perf_counter()
        try:
            if not isinstance(token, str) or len(token) > self._max_bytes:
                raise InvalidTokenError("token is malformed or too large", reason="malformed")
            now = self._clock()
            parsed = parse_compact(token, allowed_algorithms=self._algorithms)
            kid = parsed.kid
            claims = verified_payload(await self._keys.signing_key(kid), parsed)
            check_times(claims, now=now, leeway=self._leeway)
            check_issuer(claims, self._issuer)
            claims = {**await introspect(token), **claims}
            check_access_token(claims, issuer=self._issuer, audiences=self._audiences, now=now, leeway=self._leeway)
            sid, iat = claims.get("sid"), claims.get("iat")
            self.revocations.check(
                sid if isinstance(sid, str) else None, claims["sub"],
                float(iat) if isinstance(iat, int | float) and not isinstance(iat, bool) else None,
            )  # fmt: skip
            principal = self._new_principal(claims, self.binding)
            if self._verified is not None:
                self._verified(perf_counter() - started, True)  # Keycloak's answer (often cached) included
            return principal
        except AuthError as exc:
            if self._verified is not None:
                self._verified(perf_counter() - started, False)
            self._explain(exc, claims, kid)
            raise

    def _explain(self, error: AuthError, claims: dict[str, Any] | None, kid: str | None) -> None:
        """What the refusal's log line says, worded as `fastapi-kc doctor` words it; never the token itself.

        The line is written once, where the request is known (`_logs.log_refusal`), with these
        fields for a log pipeline.
        """
        detail = error.description
        fields: dict[str, object] = {}
        if kid is not None:
            fields["kid"] = printable(kid)
        if claims is not None:
            diagnosis = token_refused(self._settings, error.reason, error.description, claims)
            # Claim values in the diagnosis are escaped and bounded where it is written (`_text.printable`).
            detail = f"{diagnosis.problem}; found: {diagnosis.evidence}; fix: {diagnosis.fix}"
            # The signature verified: these claims are the realm's, and say whose token it was.
            for field, claim in (("subject", "sub"), ("client", "azp"), ("issuer", "iss")):
                if claim in claims and (field != "issuer" or error.reason == "issuer"):
                    fields[field] = printable(claims[claim], 200)
        # Issuer and audience refusals of realm-signed tokens are configuration problems (field notes
        # §1, §2): worth a warning. The rest is what clients and attackers send every day.
        # Rate-limited: anyone holding a token of another client could otherwise flood the log.
        level = logging.INFO
        if claims is not None and error.reason in ("issuer", "audience"):
            now = self._clock()
            if now - self._warned_at.get(error.reason, float("-inf")) >= _WARNING_INTERVAL:
                self._warned_at[error.reason] = now
                level = logging.WARNING
        error.log_level, error.log_detail, error.log_fields = level, detail, fields

    def _seen_once(self, slot: bytes) -> bool:
        """Whether the token in `slot` was verified once before; notes it otherwise.

        A token enters the cache on its second sighting: one seen once (every token, under a
        flood of distinct ones) leaves no entry that outlives the request (its principal, claims
        and copy of the token: memory, and work for the garbage collector). A client that calls
        again pays a second verification, then is answered from the cache.

        The sightings are one-byte tags in a fixed table indexed by the slot's hash (computed
        already, for the cache look-up): nothing is allocated or kept per token. Two tokens may
        share a place (rarely: 65,536 places): one is then cached a sighting early, and two that
        take turns on one place with different tags are not cached until one comes twice in a
        row. That costs verifications, never correctness, and the hash is randomised per
        process, so no one can aim at a place.
        """
        if self._cache_size <= 0:
            return False
        mixed = hash(slot)
        place, tag = mixed & _SIGHTINGS_MASK, (mixed >> 24) & 0xFF or 1  # 0 marks an empty place
        if self._sightings[place] == tag:
            self._sightings[place] = 0
            return True
        self._sightings[place] = tag
        return False

    def _drop_untrusted(self, keys: KeySet) -> None:
        """Forget every token verified with a key that `keys`, the realm's new set, no longer holds."""
        for slot in [slot for slot, hit in self._cache.items() if keys.get(hit.key.kid) is not hit.key]:
            del self._cache[slot]

    def _remember(self, slot: bytes, verified: _Verified) -> None:
        if len(self._cache) >= self._cache_size:
            # Oldest first: insertion order is arrival order, and old tokens expire first.
            self._cache.popitem(last=False)
        self._cache[slot] = verified
