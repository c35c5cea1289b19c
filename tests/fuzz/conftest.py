"""Fuzzing set-up: one started target per module, reproducible Hypothesis settings, honest counts.

Every property runs its `@given` function inside the test and counts the examples it actually
executed; the test asserts that count, and the session summary prints the total.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.attacks.harness import Target
from tests.support.tokens import SigningKey

#: Examples actually run, by test id; printed at the end of the session.
EXAMPLES_RUN: Counter[str] = Counter()


def fuzz_settings(max_examples: int) -> settings:
    """Derandomized and database-less: the same examples on every machine and every run."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        print_blob=True,
    )


@pytest.fixture(scope="session")
def ec_key() -> SigningKey:
    return SigningKey.ec("kid-ec-1", "ES256")


@pytest.fixture(scope="module")
def target(signing_key: SigningKey, ec_key: SigningKey) -> Iterator[Target]:
    """RS256 and ES256 allowed; the realm publishes one RSA and one EC P-256 key."""
    started = Target([signing_key, ec_key], algorithms=["RS256", "ES256"])
    yield started
    started.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if EXAMPLES_RUN:
        total = sum(EXAMPLES_RUN.values())
        terminalreporter.write_sep("-", f"fuzz: {total} examples run in {len(EXAMPLES_RUN)} properties")
        for name, count in sorted(EXAMPLES_RUN.items()):
            terminalreporter.write_line(f"  {count:6d}  {name}")
