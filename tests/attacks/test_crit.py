"""`crit` in every shape (RFC 7515 §4.1.11: extensions the recipient does not understand MUST fail).

This verifier understands no extension, so any `crit` header is refused, even an empty or
malformed one. Tokens are signed by the realm's key: `crit` is their only fault.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.attacks.harness import Target, realm_header, signed_raw
from tests.support.tokens import SigningKey, b64url, mint, user_claims

SHAPES: dict[str, Any] = {
    "unknown-extension": ["http://attacker.example/ext"],
    "registered-claim-name": ["exp"],
    "header-member-that-exists": ["kid"],
    "itself": ["crit"],
    "b64": ["b64"],
    "empty-list": [],
    "string": "exp",
    "null": None,
    "integer": 1,
    "true": True,
    "object": {"exp": True},
    "list-of-numbers": [1, 2],
    "list-of-lists": [["exp"]],
    "duplicated-entries": ["x", "x"],
}


def test_control_the_realm_signed_token_is_accepted(target: Target, signing_key: SigningKey) -> None:
    target.accepted(mint(user_claims(), signing_key))


@pytest.mark.parametrize("name", list(SHAPES))
def test_a_crit_header_is_refused(target: Target, signing_key: SigningKey, name: str) -> None:
    header = {**realm_header(signing_key), "crit": SHAPES[name]}  # kept even when None (JSON null)
    if name == "itself":
        header["x"] = 1
    target.refused(signed_raw(header, user_claims(), signing_key))


def test_crit_listing_a_member_that_is_present_is_refused(target: Target, signing_key: SigningKey) -> None:
    header = {**realm_header(signing_key), "crit": ["exp"], "exp": 4102444800}
    target.refused(signed_raw(header, user_claims(), signing_key))


def test_an_unencoded_payload_rfc7797_is_refused(target: Target, signing_key: SigningKey) -> None:
    # b64=false with crit: the signing input is the raw payload; nothing here understands it.
    header = {**realm_header(signing_key), "b64": False, "crit": ["b64"]}
    head = b64url(json.dumps(header, separators=(",", ":")).encode())
    payload = json.dumps(user_claims(), separators=(",", ":"))
    signature = b64url(signing_key.sign(f"{head}.{payload}".encode()))
    target.refused(f"{head}.{b64url(payload.encode())}.{signature}")
    target.refused(f"{head}..{signature}")  # the detached form


def test_b64_false_without_crit_does_not_change_what_is_verified(target: Target, signing_key: SigningKey) -> None:
    # RFC 7797 §6: without crit, b64 is ignored; a raw-payload signature then cannot verify.
    header = {**realm_header(signing_key), "b64": False}
    head = b64url(json.dumps(header, separators=(",", ":")).encode())
    payload = json.dumps(user_claims(), separators=(",", ":"))
    signature = b64url(signing_key.sign(f"{head}.{payload}".encode()))
    target.refused(f"{head}.{b64url(payload.encode())}.{signature}")
