"""Fixtures shared by every test package: generated keys, the fake Keycloak, settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from keycloak_dev import KeycloakServer
from tests.attacks.differential import COMPARED, INTENDED_SEEN
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.fake_keycloak import settings_values as fake_settings_values
from tests.support.tokens import SigningKey

# pytester runs the README's testing example and the kit's plugin as users' own pytest sessions.
pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    """The realm's RSA key; generated once, RSA key generation is slow."""
    return SigningKey.rsa("kid-rsa-1")


@pytest.fixture
def fake_keycloak(signing_key: SigningKey) -> FakeKeycloak:
    return FakeKeycloak(keys=[signing_key])


@pytest.fixture
def settings_values() -> dict[str, object]:
    """Keyword arguments for `KeycloakSettings`; tests override single entries."""
    return fake_settings_values()


@pytest.fixture(scope="session")
def keycloak() -> Iterator[KeycloakServer]:
    """The real Keycloak of the test session, started on first use and shared by every package.

    A failure to fetch or start it fails the tests that need it, with Keycloak's log tail.
    """
    server = KeycloakServer()
    server.start()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _clean_keycloak_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may see the developer's own KEYCLOAK_* variables."""
    import os

    for name in list(os.environ):
        if name.startswith("KEYCLOAK_"):
            monkeypatch.delenv(name)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How many tokens the attack catalogue and the fuzzers had judged by joserfc as well."""
    if COMPARED:
        total = sum(COMPARED.values())
        terminalreporter.write_sep("-", f"differential: {total} tokens judged alike by fastapi_kc and joserfc")
        for module, count in sorted(COMPARED.items()):
            terminalreporter.write_line(f"  {count:6d}  {module}")
        for reason, count in sorted(INTENDED_SEEN.items()):
            terminalreporter.write_line(f"  {count:6d}  refused by fastapi_kc only, as intended: {reason}")
