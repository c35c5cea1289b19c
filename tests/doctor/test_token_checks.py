"""Check 7: a token given with --token, every step of verification shown, the token never echoed."""

from __future__ import annotations

import time

import pytest

from fastapi_kc._doctor_report import Status
from tests.doctor.support import doctor, statuses
from tests.support.tokens import ISSUER, SigningKey, mint, service_claims, user_claims

TOKEN_CHECKS = ["token.form", "token.signature", "token.exp", "token.iss", "token.aud", "token.typ", "token.cnf",
                "token.sub", "token.caller"]  # fmt: skip


def test_a_valid_user_token_passes_every_step_and_names_the_user_and_roles(
    fake_keycloak, signing_key, settings_values
) -> None:
    report = doctor(fake_keycloak, settings_values, token=mint(user_claims(), signing_key))
    assert [c.id for c in report.checks if c.id.startswith("token")] == TOKEN_CHECKS
    assert all(report.get(name).status is Status.PASS for name in TOKEN_CHECKS[:-1])
    caller = report.get("token.caller")
    assert caller.summary.startswith("user 'mario'") and "via client 'web'" in caller.summary
    assert "customer" in caller.evidence and "api: orders:read" in caller.evidence
    assert report.exit_code == 0


def test_a_service_account_token_is_named_as_such(fake_keycloak, signing_key, settings_values) -> None:
    report = doctor(fake_keycloak, settings_values, token=mint(service_claims("shop-api"), signing_key))
    assert report.get("token.caller").summary == "service account of client 'shop-api'"


def test_a_token_without_this_api_in_aud_asks_for_an_audience_mapper_on_the_azp_client(
    fake_keycloak, signing_key, settings_values
) -> None:
    token = mint(service_claims("rogue", aud="account"), signing_key)
    check = doctor(fake_keycloak, settings_values, token=token).get("token.aud")
    assert check.status is Status.FAIL and "aud is 'account'" in check.evidence and "'rogue'" in check.evidence
    assert "add an audience mapper to the client 'rogue'" in check.fix and "Audience" in check.fix


def test_an_expired_token_says_when_it_expired(fake_keycloak, signing_key, settings_values) -> None:
    now = int(time.time())
    token = mint(user_claims(exp=now - 600, iat=now - 900), signing_key)
    report = doctor(fake_keycloak, settings_values, token=token)
    check = report.get("token.exp")
    assert check.status is Status.FAIL and check.summary == "token has expired" and "get a new token" in check.fix
    assert report.exit_code == 1


def test_a_token_issued_in_the_future_points_at_the_clocks(fake_keycloak, signing_key, settings_values) -> None:
    now = int(time.time())
    token = mint(user_claims(iat=now + 120, exp=now + 420), signing_key)
    check = doctor(fake_keycloak, settings_values, token=token).get("token.exp")
    assert check.summary == "token was issued in the future" and "clock" in check.fix


def test_a_token_of_another_issuer_names_both_issuers(fake_keycloak, signing_key, settings_values) -> None:
    token = mint(user_claims(iss="http://keycloak.internal:8080/realms/demo"), signing_key)
    check = doctor(fake_keycloak, settings_values, token=token).get("token.iss")
    assert "'http://keycloak.internal:8080/realms/demo'" in check.evidence and ISSUER in check.evidence
    assert "KEYCLOAK_PUBLIC_URL" in check.fix


def test_an_id_token_is_told_apart_from_an_access_token(fake_keycloak, signing_key, settings_values) -> None:
    check = doctor(fake_keycloak, settings_values, token=mint(user_claims(typ="ID"), signing_key)).get("token.typ")
    assert check.status is Status.FAIL and "typ is 'ID'" in check.evidence and "access_token" in check.fix


def test_an_unknown_kid_lists_the_realms_keys(fake_keycloak, settings_values) -> None:
    stranger = SigningKey.rsa("kid-elsewhere")
    check = doctor(fake_keycloak, settings_values, token=mint(user_claims(), stranger)).get("token.signature")
    assert check.status is Status.FAIL and "'kid-elsewhere'" in check.summary and "kid-rsa-1" in check.evidence


def test_a_tampered_token_fails_the_signature_and_its_claims_are_marked_unverified(
    fake_keycloak, signing_key, settings_values
) -> None:
    header, _, signature = mint(user_claims(), signing_key).split(".")
    forged = f"{header}.{mint(user_claims(sub='admin'), signing_key).split('.')[1]}.{signature}"
    report = doctor(fake_keycloak, settings_values, token=forged)
    assert report.get("token.signature").summary == "token signature is invalid"
    assert "not verified" in report.get("token.iss").summary


def test_an_algorithm_outside_the_allow_list_is_shown_with_the_header(fake_keycloak, settings_values) -> None:
    token = mint(user_claims(), SigningKey.ec("kid-ec-1"))
    check = doctor(fake_keycloak, settings_values, token=token).get("token.form")
    assert check.status is Status.FAIL and "alg 'ES256'" in check.evidence and "KEYCLOAK_ALGORITHMS" in check.fix


def test_something_that_is_not_a_jws_fails_the_form_and_skips_the_rest(fake_keycloak, settings_values) -> None:
    report = statuses(doctor(fake_keycloak, settings_values, token="not-a-token"))
    assert report["token.form"] is Status.FAIL
    assert report["token.signature"] is Status.SKIP and report["token.claims"] is Status.SKIP


def test_a_bearer_prefix_and_surrounding_white_space_are_tolerated(fake_keycloak, signing_key, settings_values) -> None:
    token = f"  Bearer {mint(user_claims(), signing_key)}\n"
    assert doctor(fake_keycloak, settings_values, token=token).exit_code == 0


def test_the_token_is_checked_even_when_keycloak_is_down_but_its_signature_is_skipped(
    fake_keycloak, signing_key, settings_values
) -> None:
    fake_keycloak.down = True
    report = statuses(doctor(fake_keycloak, settings_values, token=mint(user_claims(), signing_key)))
    assert report["token.signature"] is Status.SKIP and report["token.aud"] is Status.PASS


@pytest.mark.parametrize("render", ["render_text", "render_json"])
def test_neither_the_token_nor_its_signature_is_ever_printed(
    fake_keycloak, signing_key, settings_values, render: str
) -> None:
    token = mint(user_claims(aud="account"), signing_key)
    output = getattr(doctor(fake_keycloak, settings_values, token=token), render)()
    payload, signature = token.split(".")[1:]
    assert token not in output and signature not in output and payload not in output
