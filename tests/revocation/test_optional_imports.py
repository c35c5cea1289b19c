"""The core and the memory store work without the `redis` package; asking for Redis names the extra."""

from __future__ import annotations

import subprocess
import sys

BLOCK = "import sys; [sys.modules.__setitem__(m, None) for m in ('redis', 'redis.asyncio')]; "


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BLOCK + code], capture_output=True, text=True, check=False)


def test_the_core_and_the_revocation_package_import_without_redis() -> None:
    result = run(
        "import fastapi_kc, fastapi_kc.revocation; print(fastapi_kc.revocation.MemoryRevocationStore.__name__)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "MemoryRevocationStore"


def test_a_redis_store_without_the_package_is_a_configuration_error_naming_the_extra() -> None:
    code = (
        "from fastapi_kc import KeycloakSettings, ConfigurationError\n"
        "from fastapi_kc.revocation import store_from_settings\n"
        "s = KeycloakSettings(public_url='https://kc', realm='r', audience='api', revocation_store='redis://r:6379')\n"
        "try:\n    store_from_settings(s, clock=lambda: 0.0)\n"
        "except ConfigurationError as e:\n    print(e)\n"
    )
    result = run(code)
    assert result.returncode == 0, result.stderr
    assert "pip install 'fastapi-kc[redis]'" in result.stdout
