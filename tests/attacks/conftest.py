"""Started targets shared by the tests of one module (start-up is paid once per module)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.attacks.harness import Target
from tests.support.tokens import SigningKey


@pytest.fixture(scope="session")
def ec_key() -> SigningKey:
    return SigningKey.ec("kid-ec-1", "ES256")


@pytest.fixture(scope="module")
def target(signing_key: SigningKey) -> Iterator[Target]:
    """The default configuration: RS256 only, the realm's one RSA key."""
    started = Target([signing_key])
    yield started
    started.close()


@pytest.fixture(scope="module")
def mixed_target(signing_key: SigningKey, ec_key: SigningKey) -> Iterator[Target]:
    """RS256 and ES256 allowed, the realm publishing one RSA and one EC P-256 key."""
    started = Target([signing_key, ec_key], algorithms=["RS256", "ES256"])
    yield started
    started.close()
