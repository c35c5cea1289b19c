"""Imports run one way: pure logic, then I/O, then framework glue."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "fastapi_kc"
PURE = ["_errors", "_settings", "_claims", "_jws", "_keys", "_principal", "_principal_data", "_bearer", "_diagnostics",
        "_doctor_report", "_doctor_token", "_frozen", "_text", "_revocations", "_paths"]  # fmt: skip
PURE += ["_metrics", "_logs"]  # the metrics sink and the refusal log lines: no I/O, no framework
PURE += ["_client_auth", "_step_up"]  # _client_auth signs client assertions (joserfc), sends nothing
PURE += ["_diagnosis", "_diagnose_network", "_diagnose_keycloak", "_diagnose_tokens", "_diagnose_clients"]
PURE += ["_diagnose_state"]  # with _diagnostics, which gathers them: the wording of problems and fixes
PURE += ["_claim_values"]  # how claims read as the Principal's fields
PURE += ["_bounded"]  # the size limit the introspection and token-exchange caches share
IO = ["_http", "_jwks", "_verifier", "_service_token", "_doctor", "_token_endpoint", "_token_exchange"]
IO += ["_introspection"]
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
            "fastapi_kc._issuers", "fastapi_kc._openapi", "fastapi_kc._health", "fastapi_kc._credentials",
            "fastapi_kc._websocket_guard", "fastapi_kc._revocation_face"}  # fmt: skip
    assert not imported_roots(module) & glue


OPTIONAL_LIBRARIES = ("redis", "authlib", "prometheus_client", "opentelemetry", "itsdangerous")


def test_the_core_and_the_metrics_module_import_without_any_optional_library() -> None:
    """Nothing is imported for metrics until an adapter is created; a missing extra is named.

    FastAPI itself (0.128+) imports opentelemetry-api, so the frameworks are imported first and
    the optional libraries blocked after: what is left to fail would be fastapi_kc's own imports.
    """
    import subprocess
    import sys

    script = (
        "import sys, fastapi, starlette\n"
        f"blocked = {OPTIONAL_LIBRARIES!r}\n"
        "for name in [m for m in sys.modules if m.split('.')[0] in blocked] + list(blocked): sys.modules[name] = None\n"
        "import fastapi_kc, fastapi_kc.metrics\n"
        "from fastapi_kc import ConfigurationError\n"
        "for adapter, extra in ((fastapi_kc.metrics.PrometheusMetrics, 'prometheus'),"
        " (fastapi_kc.metrics.OpenTelemetryMetrics, 'otel')):\n"
        "    try: adapter()\n"
        "    except ConfigurationError as exc: assert f'fastapi-kc[{extra}]' in str(exc), exc\n"
        "    else: raise AssertionError('created without its library')\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    unused = "import sys, fastapi_kc, fastapi_kc.metrics; assert 'prometheus_client' not in sys.modules"
    subprocess.run([sys.executable, "-c", unused], check=True, timeout=60)


def test_the_core_never_imports_the_metrics_adapters() -> None:
    core = [path.stem for path in PACKAGE.glob("_*.py")]
    assert all("fastapi_kc.metrics" not in imported_roots(module) for module in core)
