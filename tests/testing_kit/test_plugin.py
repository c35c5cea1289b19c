"""The pytest plugin: found through its entry point, fixtures only, and the package never needs it."""

from __future__ import annotations

import ast
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import fastapi_kc.testing.pytest_plugin as plugin
from tests.testing_kit.conftest import INTERNAL_URL, PUBLIC_URL

PACKAGE = Path(__file__).resolve().parents[2] / "fastapi_kc"

USERS_TESTS = """
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from fastapi_kc import ConfigurationError, KeycloakAuth, KeycloakMiddleware

auth = KeycloakAuth()
app = FastAPI(lifespan=auth.lifespan)
app.add_middleware(KeycloakMiddleware, auth=auth)


@app.get("/me")
async def me(request: Request) -> dict:
    return {"username": request.user.username}


@pytest.fixture
def keycloak(mock_keycloak):
    return mock_keycloak(auth)


@pytest.fixture
def client(keycloak):
    with TestClient(app) as client:
        yield client


def test_with_the_fixture(keycloak, client):
    token = keycloak.token(username="mario")
    assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).json() == {"username": "mario"}


def test_afterwards_the_app_cannot_start():
    with pytest.raises(ConfigurationError):
        with TestClient(app):
            pass
"""


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    (entry,) = entry_points(group="pytest11", name="fastapi_kc")
    assert entry.value == "fastapi_kc.testing.pytest_plugin"


def test_users_tests_get_the_fixture_and_it_detaches_at_teardown(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {"PUBLIC_URL": PUBLIC_URL, "INTERNAL_URL": INTERNAL_URL, "REALM": "shop",
                        "AUDIENCE": "orders-api"}.items():  # fmt: skip
        monkeypatch.setenv(f"KEYCLOAK_{name}", value)
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    pytester.makepyfile(test_users_app=USERS_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=2)


def test_the_plugin_holds_fixtures_only() -> None:
    assert [name for name in vars(plugin) if name.startswith("pytest_")] == []


def test_no_module_of_the_package_imports_the_testing_kit() -> None:
    importers = []
    for path in (p for p in PACKAGE.rglob("*.py") if "testing" not in p.relative_to(PACKAGE).parts):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if any(name.startswith("fastapi_kc.testing") for name in names):
                importers.append(str(path.relative_to(PACKAGE)))
    assert importers == []


def test_importing_the_package_does_not_load_the_testing_kit() -> None:
    code = "import sys, fastapi_kc; print(sorted(m for m in sys.modules if m.startswith('fastapi_kc.testing')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
