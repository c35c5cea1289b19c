"""Near-miss audiences (RFC 9068 §4, RFC 7519 §4.1.3; field notes §2: one realm, many APIs).

The API's audience is `api`. Signed by the realm's key, so only `aud` (or, once, `azp`) is
wrong: each of these is a token Keycloak could issue for another client of the same realm.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.attacks.harness import Target
from tests.support.tokens import AUDIENCE, SigningKey, mint, user_claims

NEAR_MISSES: dict[str, Any] = {
    "another-client": "account",
    "list-without-the-api": ["account", "web"],
    "substring": AUDIENCE[:-1],
    "superstring": f"{AUDIENCE}2",
    "prefix-match": f"{AUDIENCE}-admin",
    "upper-case": AUDIENCE.upper(),
    "leading-space": f" {AUDIENCE}",
    "trailing-nul": f"{AUDIENCE}\x00",
    "comma-separated-string": f"account,{AUDIENCE}",
    "space-separated-string": f"account {AUDIENCE}",
    "nested-list": [[AUDIENCE]],
    "nested-list-beside-another": ["account", [AUDIENCE]],
    "object-key": {AUDIENCE: True},
    "object-value": {"aud": AUDIENCE},
    "list-of-objects": [{"aud": AUDIENCE}],
    "empty-string": "",
    "empty-list": [],
    "null": None,
    "number": 1,
    "true": True,
    "url-form": f"https://{AUDIENCE}",
}


@pytest.mark.parametrize("aud", [AUDIENCE, [AUDIENCE], ["account", AUDIENCE]], ids=["string", "list", "list-of-two"])
def test_control_the_api_audience_is_accepted(target: Target, signing_key: SigningKey, aud: Any) -> None:
    target.accepted(mint(user_claims(aud=aud), signing_key))


@pytest.mark.parametrize("name", list(NEAR_MISSES))
def test_a_near_miss_audience_is_refused(target: Target, signing_key: SigningKey, name: str) -> None:
    claims = user_claims()
    claims["aud"] = NEAR_MISSES[name]
    assert target.refused(mint(claims, signing_key)).reason == "audience"


def test_a_missing_audience_is_refused(target: Target, signing_key: SigningKey) -> None:
    target.refused(mint(user_claims(aud=None), signing_key))


def test_azp_naming_the_api_does_not_stand_in_for_the_audience(target: Target, signing_key: SigningKey) -> None:
    # Some libraries fall back to azp when aud is absent; azp is the client the token was issued to.
    target.refused(mint(user_claims(aud=None, azp=AUDIENCE), signing_key))


def test_the_api_in_a_list_mixed_with_non_strings_is_refused(target: Target, signing_key: SigningKey) -> None:
    # A malformed aud is refused as a whole rather than searched for a usable entry.
    claims = user_claims()
    claims["aud"] = [AUDIENCE, 1, None]
    target.refused(mint(claims, signing_key))
