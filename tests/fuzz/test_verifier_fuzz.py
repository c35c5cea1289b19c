"""Property tests of `verify()`: random tokens, mutated valid tokens, realm-signed random claims.

Properties: `verify` returns a `Principal` or raises `AuthError` (anything else fails the test);
a refusal is a 401 (the fake Keycloak is up, so never a 503); only the exact string of a valid
token is accepted; and whatever is accepted satisfies every claim rule.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastapi_kc import AuthError, Principal
from tests.attacks.harness import Target, realm_header, signed_raw
from tests.fuzz.conftest import EXAMPLES_RUN, fuzz_settings
from tests.fuzz.strategies import claim_changes, json_values, mutated, token_like
from tests.support.tokens import AUDIENCE, ISSUER, SigningKey, b64url, mint, service_claims, user_claims

RANDOM_TOKENS = 2000
RANDOM_JSON = 1500
MUTATIONS = 3000
SIGNED_CLAIMS = 1500


def refused_401(result: Principal | AuthError) -> None:
    assert isinstance(result, AuthError), f"accepted: {result!r}"
    assert result.status_code == 401, repr(result)


def test_random_strings_are_refused(target: Target, request: pytest.FixtureRequest) -> None:
    @fuzz_settings(RANDOM_TOKENS)
    @given(token_like)
    def check(token: str) -> None:
        EXAMPLES_RUN[request.node.name] += 1
        refused_401(target.outcome(token))

    check()
    assert EXAMPLES_RUN[request.node.name] >= RANDOM_TOKENS


def test_random_json_under_random_signatures_is_refused(
    target: Target, signing_key: SigningKey, request: pytest.FixtureRequest
) -> None:
    header_values = st.one_of(
        json_values,
        st.fixed_dictionaries(
            {"alg": st.sampled_from(["RS256", "ES256", "none", "HS256"]), "kid": st.sampled_from([signing_key.kid])},
            optional={"crit": json_values, "jku": json_values, "typ": json_values, "b64": json_values},
        ),
    )

    @fuzz_settings(RANDOM_JSON)
    @given(header_values, st.one_of(json_values, st.just(user_claims())), st.binary(max_size=300))
    def check(header: Any, payload: Any, signature: bytes) -> None:
        EXAMPLES_RUN[request.node.name] += 1
        token = ".".join(b64url(json.dumps(part).encode()) for part in (header, payload)) + "." + b64url(signature)
        refused_401(target.outcome(token))

    check()
    assert EXAMPLES_RUN[request.node.name] >= RANDOM_JSON


@pytest.fixture(scope="module")
def valid_tokens(signing_key: SigningKey, ec_key: SigningKey) -> list[str]:
    """Valid tokens of both key types; each mutated token is compared with its original."""
    return [
        mint(user_claims(), signing_key),
        mint(service_claims(), signing_key),
        mint(user_claims(), ec_key),
    ]


def test_only_the_exact_string_of_a_valid_token_is_accepted(
    target: Target, valid_tokens: list[str], request: pytest.FixtureRequest
) -> None:
    # Strict base64url makes every token's encoding unique: any other string is another token.
    for token in valid_tokens:
        assert isinstance(target.outcome(token), Principal), "control: the unmutated token is accepted"

    @fuzz_settings(MUTATIONS)
    @given(st.sampled_from(valid_tokens).flatmap(lambda t: st.tuples(st.just(t), mutated(t))))
    def check(pair: tuple[str, str]) -> None:
        EXAMPLES_RUN[request.node.name] += 1
        original, candidate = pair
        result = target.outcome(candidate)
        if candidate == original:
            assert isinstance(result, Principal)
        else:
            refused_401(result)

    check()
    assert EXAMPLES_RUN[request.node.name] >= MUTATIONS


def test_segments_transplanted_between_valid_tokens_are_refused(target: Target, valid_tokens: list[str]) -> None:
    # A small space, so enumerated rather than sampled: every segment or pair of segments of
    # every valid token replaced by the same segments of every other one.
    checked = 0
    for into, source in itertools.permutations(valid_tokens, 2):
        for segments in ([0], [1], [2], [0, 1], [0, 2], [1, 2]):
            parts, donor = into.split("."), source.split(".")
            for i in segments:
                parts[i] = donor[i]
            candidate = ".".join(parts)
            result = target.outcome(candidate)
            if candidate in valid_tokens:  # the two RSA tokens share their header segment
                assert isinstance(result, Principal)
            else:
                refused_401(result)
                checked += 1
    assert checked >= 30


def obeys_every_rule(claims: dict[str, Any], now: float, leeway: float) -> list[str]:
    """The claim rules an accepted access token must satisfy; the names of those it breaks."""
    broken = []

    def date(name: str) -> float | None:
        value = claims.get(name)
        ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
        return float(value) if ok else None

    exp = date("exp")
    if exp is None or now > exp + leeway or exp > 253402300799:
        broken.append("exp")
    for name in ("nbf", "iat"):
        if name in claims:  # present means a NumericDate, JSON null included
            value = date(name)
            if value is None or value > now + leeway or value < 0:
                broken.append(name)
    if claims.get("iss") != ISSUER:
        broken.append("iss")
    aud = claims.get("aud")
    if not (aud == AUDIENCE or (isinstance(aud, list) and AUDIENCE in aud and all(isinstance(a, str) for a in aud))):
        broken.append("aud")
    if claims.get("typ") != "Bearer":
        broken.append("typ")
    if "cnf" in claims:
        broken.append("cnf")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        broken.append("sub")
    return broken


TIME_CLAIMS = frozenset({"exp", "nbf", "iat"})


def _near(value: Any, now: int) -> bool:
    """A time drawn relative to `now` (not one of the fixed absurd values such as 0 or 1e300)."""
    return type(value) in (int, float) and abs(value - now) <= 100_000


def test_whatever_is_accepted_obeys_every_claim_rule(
    target: Target, signing_key: SigningKey, request: pytest.FixtureRequest
) -> None:
    # Realm-signed tokens with claims kept, deleted or replaced at random: the signature is
    # genuine, so the claim rules are the only defence being tested.
    now = int(time.time())
    leeway = target.settings.leeway_seconds
    outcomes = {"accepted": 0, "refused": 0}

    @fuzz_settings(SIGNED_CLAIMS)
    @given(claim_changes(now))
    def check(changes: dict[str, tuple[str, Any]]) -> None:
        EXAMPLES_RUN[request.node.name] += 1
        claims = user_claims()
        # The near-miss times were drawn around the test's start; moved to this example's own
        # instant, so that how many tokens are accepted does not depend on how long the run took.
        shift = int(time.time()) - now
        for name, (action, value) in changes.items():
            if action == "delete":
                claims.pop(name, None)
            elif action == "set":
                claims[name] = value + shift if name in TIME_CLAIMS and _near(value, now) else value
        # The verifier's clock is held at this example's instant while it judges; the oracle judges
        # at that same instant, however long the machine took.
        judged_at = float(now + shift)
        result = target.outcome(signed_raw(realm_header(signing_key), claims, signing_key), at=judged_at)
        if isinstance(result, Principal):
            outcomes["accepted"] += 1
            assert obeys_every_rule(claims, judged_at, leeway) == []
            assert result.subject == claims["sub"]
            assert result.has_role("admin") == (
                isinstance(claims.get("realm_access"), dict)
                and isinstance(claims["realm_access"].get("roles"), list)
                and "admin" in claims["realm_access"]["roles"]
            )
        else:
            outcomes["refused"] += 1
            refused_401(result)
            assert obeys_every_rule(claims, judged_at, leeway) != [], f"a valid token was refused: {result!r}"

    check()
    assert EXAMPLES_RUN[request.node.name] >= SIGNED_CLAIMS
    # Not vacuous: the generator produces both kinds (every claim is kept with probability 1/3; about 20
    # of the examples are accepted, whatever the machine's load, since each is judged at its own instant).
    assert outcomes["accepted"] >= 10, outcomes
    assert outcomes["refused"] >= 20, outcomes
