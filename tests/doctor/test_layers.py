"""The doctor keeps the library's layering: its report and token steps are pure, and it re-implements nothing."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "fastapi_kc"


def imported(module: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse((PACKAGE / f"{module}.py").read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize("module", ["_doctor_report", "_doctor_token"])
def test_the_report_model_and_token_steps_do_no_io(module: str) -> None:
    roots = {name.split(".")[0] for name in imported(module)}
    assert not roots & {"httpx", "asyncio", "socket", "ssl", "starlette", "fastapi"}


def test_the_token_steps_reuse_the_verifiers_parsing_signature_and_claim_rules() -> None:
    names = imported("_doctor_token")
    assert {"fastapi_kc._jws.parse_compact", "fastapi_kc._jws.verify_signature", "fastapi_kc._jws.b64url_decode",
            "fastapi_kc._jws.decode_json_object", "fastapi_kc._claims"} <= names  # fmt: skip


def test_the_keycloak_checks_reuse_the_services_http_and_key_import() -> None:
    names = imported("_doctor")
    assert {"fastapi_kc._http.get_json", "fastapi_kc._keys.key_set_from_jwks",
            "fastapi_kc._service_token.ServiceTokenClient"} <= names  # fmt: skip
