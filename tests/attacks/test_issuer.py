"""Near-miss issuers (RFC 9068 §4: `iss` MUST match exactly; field notes §1).

Signed by the realm's key (a key shared with every realm of a misconfigured deployment would
sign them just the same), so only `iss` is wrong. No normalisation of any kind is applied.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.attacks.harness import Target
from tests.support.tokens import INTERNAL_URL, ISSUER, PUBLIC_URL, REALM, SigningKey, mint, user_claims

NEAR_MISSES: dict[str, Any] = {
    "trailing-slash": f"{ISSUER}/",
    "double-slash": ISSUER.replace("/realms", "//realms"),
    "http-scheme": ISSUER.replace("https://", "http://"),
    "upper-case-scheme": ISSUER.replace("https://", "HTTPS://"),
    "upper-case-host": ISSUER.replace("auth.example.test", "AUTH.EXAMPLE.TEST"),
    "upper-case-realm": ISSUER.replace(f"/realms/{REALM}", f"/realms/{REALM.upper()}"),
    "explicit-default-port": ISSUER.replace("auth.example.test", "auth.example.test:443"),
    "prefix": ISSUER[:-1],
    "suffix": f"{ISSUER}x",
    "another-realm": f"{PUBLIC_URL}/realms/master",
    "realm-as-prefix-of-another": f"{PUBLIC_URL}/realms/{REALM}-evil",
    "internal-url": f"{INTERNAL_URL}/realms/{REALM}",
    "legacy-auth-path": f"{PUBLIC_URL}/auth/realms/{REALM}",
    "dot-segment": f"{PUBLIC_URL}/realms/x/../{REALM}",
    "percent-encoded": ISSUER.replace(f"/{REALM}", "/%64emo"),
    "subdomain-of-attacker": ISSUER.replace("auth.example.test", "auth.example.test.attacker.example"),
    "userinfo": ISSUER.replace("https://", "https://attacker@"),
    "leading-space": f" {ISSUER}",
    "trailing-space": f"{ISSUER} ",
    "trailing-nul": f"{ISSUER}\x00",
    "homoglyph": ISSUER.replace("example", "ex\u0430mple"),
    "fullwidth-slash": ISSUER.replace("/realms/", "/realms\uff0f"),
    "empty": "",
    "null": None,
    "list-with-the-issuer": [ISSUER],
    "object": {"iss": ISSUER},
    "number": 1,
    "true": True,
}


def test_control_the_exact_issuer_is_accepted(target: Target, signing_key: SigningKey) -> None:
    target.accepted(mint(user_claims(iss=ISSUER), signing_key))


@pytest.mark.parametrize("name", list(NEAR_MISSES))
def test_a_near_miss_issuer_is_refused(target: Target, signing_key: SigningKey, name: str) -> None:
    claims = user_claims()
    claims["iss"] = NEAR_MISSES[name]
    assert target.refused(mint(claims, signing_key)).reason == "issuer"


def test_a_missing_issuer_is_refused(target: Target, signing_key: SigningKey) -> None:
    target.refused(mint(user_claims(iss=None), signing_key))
