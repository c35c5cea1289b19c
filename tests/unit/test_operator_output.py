"""Output for operators is never attacker-controlled text (issue 10, item 4).

Claims are chosen by whoever sends the token. Every claim value that reaches the doctor's
report, a log line or an error description is escaped (control characters and line breaks
made visible) and bounded, by one helper: `_text.printable`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi import Depends, FastAPI, Security
from fastapi.testclient import TestClient

from fastapi_kc import KeycloakAuth, KeycloakSettings, Principal
from fastapi_kc._text import printable
from tests.doctor.support import cli
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import AUDIENCE, INTERNAL_URL, PUBLIC_URL, REALM, SigningKey, mint, user_claims

# A new line that forges a passing check, terminal escapes (clear screen, a C1 CSI), a Unicode
# line separator and a right-to-left override: each would change what the operator reads.
HOSTILE = "web\n[PASS] issuer: all good\r\x1b[2J\x9b31m\u2028[PASS] keys\u202e"
INVISIBLE = ["\n", "\r", "\x1b", "\x9b", "\u2028", "\u202e"]


def visible(text: str) -> bool:
    return all(character.isprintable() for character in text)


# --- the helper ----------------------------------------------------------------------------------


@pytest.mark.parametrize("character", [*INVISIBLE, "\x00", "\x7f", "\u200b", "\u2029", "\t"])
def test_every_invisible_character_is_shown_as_an_escape(character: str) -> None:
    shown = printable(f"a{character}b")
    assert visible(shown) and shown == repr(f"a{character}b")[1:-1] and shown != f"a{character}b"


def test_a_backslash_is_escaped_so_no_escape_can_be_faked() -> None:
    assert printable("a\\nb") == "a\\\\nb" and printable("a\nb") == "a\\nb"


def test_ordinary_text_is_shown_as_it_is() -> None:
    assert printable("orders:read") == "orders:read" and printable("Jos\u00e9 M\u00fcller") == "Jos\u00e9 M\u00fcller"
    assert printable("web", quoted=True) == "'web'"


@pytest.mark.parametrize("value", ["x" * 100_000, "\n" * 100_000, ["a"] * 10_000, 10**4000])
def test_what_is_shown_is_bounded(value: object) -> None:
    shown = printable(value, 50)
    assert len(shown) <= 50 and shown.endswith("...") and visible(shown)


def test_a_long_quoted_value_does_not_end_in_a_closing_quote() -> None:
    assert printable("x" * 200, 20, quoted=True) == "'" + "x" * 16 + "..."


def test_values_of_other_json_types_are_shown_as_their_repr_with_strings_escaped() -> None:
    assert printable(["api", "a\nb"]) == "['api', 'a\\nb']" and printable(None) == "None" and printable(7) == "7"


# --- where claims reach an operator ---------------------------------------------------------------


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"PUBLIC_URL": PUBLIC_URL, "INTERNAL_URL": INTERNAL_URL, "REALM": REALM,
                        "AUDIENCE": AUDIENCE}.items():  # fmt: skip
        monkeypatch.setenv(f"KEYCLOAK_{name}", value)


def hostile_claims() -> dict[str, object]:
    """A token signed by the realm whose every shown claim carries the hostile text."""
    return user_claims(
        aud=["account"],  # refused: the doctor then shows aud and azp, twice, in its diagnosis
        azp=HOSTILE,
        preferred_username=HOSTILE,
        realm_access={"roles": [HOSTILE, "customer"]},
        resource_access={HOSTILE: {"roles": [HOSTILE]}},
    )


def test_the_doctor_shows_a_token_s_claims_without_forged_lines_or_escapes(
    environment: None, fake_keycloak: FakeKeycloak, signing_key: SigningKey
) -> None:
    code, output = cli(["doctor", "--token", "-"], fake=fake_keycloak, stdin=mint(hostile_claims(), signing_key))
    assert code == 1
    lines = output.splitlines()
    assert all(visible(line) for line in lines), [line for line in lines if not visible(line)]
    # Each line is a check, its evidence or fix, the blank line and the summary: nothing forged.
    assert all(line.startswith(("[", "  found: ", "  fix: ")) for line in lines[:-2]) and lines[-2] == ""
    assert not any(line.startswith(("[PASS] issuer: all good", "[PASS] keys\\")) for line in lines)
    assert "[PASS] issuer: all good" in output  # still shown, escaped, inside the line of its claim
    assert "via client 'web\\n[PASS] issuer: all good\\r\\x1b[2J\\x9b31m\\u2028[PASS] keys\\u202e'" in output


def test_the_doctor_bounds_a_huge_claim(
    environment: None, fake_keycloak: FakeKeycloak, signing_key: SigningKey
) -> None:
    token = mint(user_claims(aud=["account"], azp="A" * 5000), signing_key)
    code, output = cli(["doctor", "--token", "-"], fake=fake_keycloak, stdin=token)
    assert code == 1 and "A" * 200 not in output


@pytest.fixture
def client(fake_keycloak: FakeKeycloak, settings_values: dict[str, object]) -> Iterator[TestClient]:
    auth = KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client())
    app = FastAPI(lifespan=auth.lifespan)

    @app.get("/admin")
    def admin(principal: Principal = Depends(auth.require_roles("admin"))) -> str:
        return principal.subject

    @app.get("/write")
    def write(principal: Principal = Security(auth.principal, scopes=["orders:write"])) -> str:
        return principal.subject

    with TestClient(app) as client:
        yield client


def fastapi_kc_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "fastapi_kc"]


@pytest.mark.parametrize("path", ["/admin", "/write"], ids=["missing-role", "missing-security-scope"])
def test_the_403_log_line_shows_the_subject_escaped(
    client: TestClient, signing_key: SigningKey, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    token = mint(user_claims(sub=HOSTILE), signing_key)
    with caplog.at_level(logging.INFO, logger="fastapi_kc"):
        assert client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 403
    (line,) = [message for message in fastapi_kc_messages(caplog) if "status=403" in message]
    assert visible(line) and f"subject={printable(HOSTILE)} on GET {path}:" in line


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"aud": ["account"], "azp": HOSTILE}, id="audience-azp"),
        pytest.param({"aud": [HOSTILE]}, id="audience-aud"),
        pytest.param({"iss": HOSTILE}, id="issuer"),
        pytest.param({"typ": HOSTILE}, id="token-type"),
    ],
)
def test_a_refusal_log_line_shows_the_token_s_claims_escaped(
    client: TestClient, signing_key: SigningKey, caplog: pytest.LogCaptureFixture, claims: dict[str, object]
) -> None:
    token = mint(user_claims(**claims), signing_key)
    with caplog.at_level(logging.INFO, logger="fastapi_kc"):
        assert client.get("/admin", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    (line,) = [message for message in fastapi_kc_messages(caplog) if message.startswith("token refused")]
    assert visible(line) and "all good" in line
    assert not any(character in line for character in INVISIBLE)
