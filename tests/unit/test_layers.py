"""Imports run one way: pure logic, then I/O, then framework glue."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "fastapi_kc"
PURE = ["_errors", "_settings", "_claims", "_jws", "_keys", "_principal", "_principal_data", "_bearer", "_diagnostics",
        "_doctor_report", "_doctor_token", "_frozen", "_text", "_revocations", "_paths"]  # fmt: skip
PURE += ["_client_auth", "_step_up"]  # _client_auth signs client assertions (joserfc), sends nothing
IO = ["_http", "_jwks", "_verifier", "_service_token", "_doctor", "_token_endpoint", "_token_exchange"]
FRAMEWORKS = {"starlette", "fastapi"}


def imported_roots(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_http_client_and_no_framework(module: str) -> None:
    roots = {name.split(".")[0] for name in imported_roots(module)}
    assert not roots & (FRAMEWORKS | {"httpx"}), roots


@pytest.mark.parametrize("module", IO)
def test_io_modules_import_no_framework(module: str) -> None:
    roots = {name.split(".")[0] for name in imported_roots(module)}
    assert not roots & FRAMEWORKS, roots


@pytest.mark.parametrize("module", PURE + IO)
def test_lower_layers_never_import_the_glue(module: str) -> None:
    glue = {"fastapi_kc._middleware", "fastapi_kc._dependencies", "fastapi_kc._responses", "fastapi_kc._auth",
            "fastapi_kc._issuers"}  # fmt: skip
    assert not imported_roots(module) & glue
