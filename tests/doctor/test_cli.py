"""The command: `fastapi-kc doctor` and `python -m fastapi_kc doctor`, exit codes, --token -, --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.doctor.support import cli
from tests.support.tokens import AUDIENCE, INTERNAL_URL, PUBLIC_URL, REALM, mint, user_claims

VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"PUBLIC_URL": PUBLIC_URL, "INTERNAL_URL": INTERNAL_URL, "REALM": REALM,
                        "AUDIENCE": AUDIENCE}.items():  # fmt: skip
        monkeypatch.setenv(f"KEYCLOAK_{name}", value)


def test_a_healthy_set_up_exits_0_and_prints_a_line_per_check(environment, fake_keycloak) -> None:
    code, output = cli(["doctor"], fake=fake_keycloak)
    assert code == 0
    assert [line.split(":")[0] for line in output.splitlines() if line.startswith("[")] == [
        "[PASS] settings", "[WARN] settings.internal_url", "[PASS] reach", "[PASS] discovery", "[PASS] issuer",
        "[PASS] keys", "[SKIP] clock",
    ]  # fmt: skip
    assert output.endswith("all checks passed (5 pass, 1 warn, 1 skip)\n")


def test_a_failure_exits_1(environment, fake_keycloak, monkeypatch) -> None:
    monkeypatch.setenv("KEYCLOAK_REALM", "nope")
    code, output = cli(["doctor"], fake=fake_keycloak)
    assert code == 1 and "[FAIL] discovery: the discovery document was not found: realm 'nope'" in output


def test_the_token_can_come_from_standard_input(environment, fake_keycloak, signing_key) -> None:
    code, output = cli(["doctor", "--token", "-"], fake=fake_keycloak, stdin=mint(user_claims(aud="x"), signing_key))
    assert code == 1 and "[FAIL] token.aud:" in output


def test_json_output_is_the_same_report_for_machines(environment, fake_keycloak) -> None:
    _, text = cli(["doctor"], fake=fake_keycloak)
    code, output = cli(["doctor", "--json"], fake=fake_keycloak)
    document = json.loads(output)
    assert code == 0 and document["ok"] is True and document["exit_code"] == 0
    assert [f"[{c['status'].upper()}] {c['id']}: {c['summary']}" for c in document["checks"]] == [
        line for line in text.splitlines() if line.startswith("[")
    ]


def test_a_usage_error_exits_2(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli(["doctor", "--no-such-option"])
    assert info.value.code == 2


def run_installed(*command: str) -> subprocess.CompletedProcess[str]:
    """The command as installed, in a clean environment with one setting missing (no network needed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYCLOAK_")}
    env.update(KEYCLOAK_PUBLIC_URL=PUBLIC_URL, KEYCLOAK_AUDIENCE=AUDIENCE)
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)


def test_the_console_script_is_installed_and_names_the_missing_variable() -> None:
    result = run_installed(str(VENV_BIN / "fastapi-kc"), "doctor")
    assert result.returncode == 1 and "KEYCLOAK_REALM (realm): required but not set" in result.stdout


def test_python_dash_m_fastapi_kc_runs_the_same_command() -> None:
    result = run_installed(sys.executable, "-m", "fastapi_kc", "doctor", "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["checks"][0]["id"] == "settings"
