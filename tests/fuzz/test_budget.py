"""The issue asks for at least 10,000 fuzz examples in `make test`; the budgets below add up to that.

Each property also asserts, after running, that it executed its own budget in full.
"""

from __future__ import annotations

from tests.fuzz import test_http_fuzz as http
from tests.fuzz import test_verifier_fuzz as verifier


def test_the_declared_budgets_total_at_least_10000_examples() -> None:
    budgets = [
        verifier.RANDOM_TOKENS,
        verifier.RANDOM_JSON,
        verifier.MUTATIONS,
        verifier.SIGNED_CLAIMS,
        http.RANDOM_HEADERS,
        http.MUTATED_BEARERS,
    ]
    assert sum(budgets) >= 10_000, budgets
