"""Sender-constrained tokens presented as plain bearer tokens (RFC 9449 §7.1, RFC 8705 §3).

A token bound to a DPoP key (`cnf.jkt`) or to a client certificate (`cnf.x5t#S256`) is worth
nothing without its proof; this API checks no proofs, so it must refuse such tokens rather than
accept them as bearer tokens (a stolen bound token would otherwise work anywhere).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.attacks.harness import Target
from tests.support.tokens import SigningKey, b64url, mint, user_claims

JKT = b64url(bytes(range(32)))
CNF: dict[str, Any] = {
    "dpop-jkt": {"jkt": JKT},
    "mtls-x5t-s256": {"x5t#S256": JKT},
    "jwk": {"jwk": {"kty": "EC", "crv": "P-256", "x": JKT, "y": JKT}},
    "empty-object": {},
    "null": None,
    "string": JKT,
    "jkt-and-unknown-member": {"jkt": JKT, "x": 1},
}


def test_control_an_unbound_token_is_accepted(target: Target, signing_key: SigningKey) -> None:
    target.accepted(mint(user_claims(), signing_key))


@pytest.mark.parametrize("name", list(CNF))
def test_a_bound_token_sent_as_bearer_is_refused(target: Target, signing_key: SigningKey, name: str) -> None:
    claims = user_claims()
    claims["cnf"] = CNF[name]
    target.refused(mint(claims, signing_key))


def test_a_dpop_bound_token_with_a_dpop_proof_header_is_still_refused(target: Target, signing_key: SigningKey) -> None:
    # Even with a DPoP header beside it, this API verifies no proof; the token must not pass.
    token = mint(user_claims(cnf={"jkt": JKT}), signing_key)
    headers = [(b"authorization", f"Bearer {token}".encode()), (b"dpop", b"eyJhbGciOiJFUzI1NiJ9.e30.c2ln")]
    target.refused_over_http(headers)


def test_the_dpop_scheme_is_not_taken_for_bearer(target: Target, signing_key: SigningKey) -> None:
    token = mint(user_claims(), signing_key)  # even an unbound, valid token
    target.refused_over_http([(b"authorization", f"DPoP {token}".encode())])
