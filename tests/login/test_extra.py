"""`fastapi-kc[login]` is an extra: the core never imports it, and without it the error names it."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Only the login extra's own libraries: FastAPI 0.165 itself imports opentelemetry.
BLOCKED = ("authlib", "itsdangerous", "httpx2")


def run(code: str) -> subprocess.CompletedProcess[str]:
    block = f"import sys; [sys.modules.__setitem__(m, None) for m in {BLOCKED!r}]; "
    return subprocess.run([sys.executable, "-c", block + code], capture_output=True, text=True, timeout=60, check=False)


def test_the_core_imports_without_the_login_libraries() -> None:
    result = run("import fastapi_kc; from fastapi_kc import KeycloakMiddleware; print('ok')")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("missing", ["authlib", "itsdangerous"])
def test_the_login_package_without_its_extra_names_the_extra(missing: str) -> None:
    code = f"import sys; sys.modules[{missing!r}] = None; import fastapi_kc.login"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "pip install 'fastapi-kc[login]'" in result.stderr
