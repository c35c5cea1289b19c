"""The differential check of the hand-written JWS path against joserfc (issue 10, item 11).

Every token that the attack catalogue (tests/attacks) and the fuzzers (tests/fuzz) give to
`Target.outcome` is also judged by joserfc's `jwt.decode` + `JWTClaimsRegistry`, configured
alike, and the verdicts must agree (`differential.py`); the session summary prints how many
tokens were compared, per module. This module shows that each intended difference is real and
explained, and that any other disagreement fails.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from fastapi_kc import AuthError, InvalidTokenError, Principal
from tests.attacks.differential import INTENDED, Differential
from tests.attacks.harness import Target, realm_header, signed_raw, with_signature
from tests.support.tokens import SigningKey, mint, user_claims

UTF8_BOM = b"\xef\xbb\xbf"

#: For each intended difference, a realm-signed token that has it and nothing else wrong.
DIFFERENCES: dict[str, Callable[[SigningKey], str]] = {
    "too_large": lambda key: mint(user_claims(note="x" * 11_400), key),  # each part under the limit, not all
    "bound_token": lambda key: mint(user_claims(cnf={"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}), key),
    "crit": lambda key: mint(user_claims(), key, header={"crit": ["kid"]}),
    "kid": lambda key: mint(user_claims(), key, header={"kid": None}),
    "malformed": lambda key: signed_raw(realm_header(key), UTF8_BOM + json.dumps(user_claims()).encode(), key),
    "token_type": lambda key: mint(user_claims(typ=["Bearer"]), key),
    "exp_invalid": lambda key: mint(user_claims(exp=10**20), key),
    "nbf_invalid": lambda key: mint(user_claims(nbf=-1), key),
    "iat_invalid": lambda key: mint(user_claims(iat=-1), key),
}


def now() -> int:
    return int(time.time())


def test_every_intended_difference_has_an_example() -> None:
    assert set(DIFFERENCES) == set(INTENDED)


@pytest.mark.parametrize("reason", list(DIFFERENCES))
def test_an_intended_difference_is_refused_by_fastapi_kc_alone_and_recognised(
    target: Target, signing_key: SigningKey, reason: str
) -> None:
    token = DIFFERENCES[reason](signing_key)
    ours = target.outcome(token)  # compared with joserfc inside, as for every token of the catalogue
    assert isinstance(ours, AuthError) and ours.reason == reason, repr(ours)
    verdict, why = target.differential.joserfc_verdict(token, now())
    assert verdict == "accepted", why
    assert INTENDED[reason].applies(token, target.settings)
    assert INTENDED[reason].why


def test_the_unmodified_token_is_accepted_by_both(target: Target, signing_key: SigningKey) -> None:
    token = mint(user_claims(), signing_key)
    assert isinstance(target.outcome(token), Principal)
    assert target.differential.joserfc_verdict(token, now()) == ("accepted", "")


def test_a_disagreement_that_is_not_intended_fails(target: Target, signing_key: SigningKey) -> None:
    valid = mint(user_claims(), signing_key)
    forged = with_signature(realm_header(signing_key), user_claims(), b"\x00" * 256)
    principal = Principal.from_claims(user_claims())
    differential = Differential(target.settings, target.fake.jwks)  # not the target's: its counts stay honest
    with pytest.raises(AssertionError, match="joserfc accepted"):
        differential.compare(valid, InvalidTokenError("token signature is invalid", reason="signature"), now())
    with pytest.raises(AssertionError, match="joserfc refused"):
        differential.compare(forged, principal, now())
    # An intended reason must also fit the token: a cnf refusal of a token without cnf is a bug.
    with pytest.raises(AssertionError, match="joserfc accepted"):
        differential.compare(valid, InvalidTokenError("bound", reason="bound_token"), now())


def test_every_token_judged_is_compared_and_counted(target: Target, signing_key: SigningKey) -> None:
    before = target.differential.compared
    judged = [mint(user_claims(), signing_key), "not.a.token", mint(user_claims(aud="other"), signing_key)]
    for token in judged:
        target.outcome(token)
    assert target.differential.compared == before + len(judged)
    assert target.differential.compared == target.verified
