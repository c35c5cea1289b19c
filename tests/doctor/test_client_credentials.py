"""Check 8: --client-credentials requests a token for KEYCLOAK_CLIENT_ID, names each refusal, never the secret."""

from __future__ import annotations

import httpx
import pytest

from fastapi_kc._doctor_report import Status
from tests.doctor.support import doctor, issue_jwt_service_tokens
from tests.support.fake_keycloak import CLIENT_SECRET, TOKEN_PATH


def refuse(status: int, error: str, description: str) -> object:
    def handler(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != TOKEN_PATH:
            return None
        return httpx.Response(status, json={"error": error, "error_description": description})

    return handler


def test_the_service_token_is_requested_and_checked_like_a_given_token(
    fake_keycloak, signing_key, settings_values
) -> None:
    issue_jwt_service_tokens(fake_keycloak, signing_key)
    report = doctor(fake_keycloak, settings_values, client_credentials=True)
    assert report.get("service_token").status is Status.PASS
    assert report.get("service_token.aud").status is Status.PASS
    assert report.get("service_token.caller").summary == "service account of client 'shop-api'"
    assert report.exit_code == 0


def test_a_service_token_without_this_api_in_aud_names_the_mapper_fix(
    fake_keycloak, signing_key, settings_values
) -> None:
    issue_jwt_service_tokens(fake_keycloak, signing_key, aud="account")
    check = doctor(fake_keycloak, settings_values, client_credentials=True).get("service_token.aud")
    assert "add an audience mapper to the client 'shop-api'" in check.fix


def test_a_wrong_secret_is_named_and_the_secret_is_not_printed(fake_keycloak, settings_values) -> None:
    secret = "Zq9-not-the-secret-7Tx"
    report = doctor(fake_keycloak, {**settings_values, "client_secret": secret}, client_credentials=True)
    check = report.get("service_token")
    assert check.status is Status.FAIL and check.summary == "Keycloak refuses the secret of client 'shop-api'"
    assert "KEYCLOAK_CLIENT_SECRET" in check.fix and "401" in check.evidence
    assert secret not in report.render_text() + report.render_json()
    assert report.exit_code == 1


@pytest.mark.parametrize(
    ("error", "description", "named"),
    [
        ("unauthorized_client", "Client not enabled to retrieve service account", "has no service account"),
        ("unauthorized_client", "Public client not allowed to retrieve service account", "is a public client"),
        ("invalid_client", "Invalid client or Invalid client credentials", "unknown or disabled"),
    ],
)
def test_each_refusal_of_keycloak_is_named(fake_keycloak, settings_values, error, description, named) -> None:
    fake_keycloak.override = refuse(401, error, description)
    check = doctor(fake_keycloak, settings_values, client_credentials=True).get("service_token")
    assert check.status is Status.FAIL and named in check.summary and description in check.evidence


def test_a_token_endpoint_that_cannot_be_reached_is_named_like_any_unreachable_url(
    fake_keycloak, settings_values
) -> None:
    def refuse_token(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == TOKEN_PATH:
            cause = ConnectionRefusedError(111, "Connection refused")
            raise httpx.ConnectError(str(cause)) from cause
        return None

    fake_keycloak.override = refuse_token
    check = doctor(fake_keycloak, settings_values, client_credentials=True).get("service_token")
    assert "connection was refused" in check.summary and TOKEN_PATH in check.summary


def test_without_a_client_id_the_missing_variables_are_named(fake_keycloak, settings_values) -> None:
    values = {**settings_values, "client_id": None, "client_secret": None}
    check = doctor(fake_keycloak, values, client_credentials=True).get("service_token")
    assert "KEYCLOAK_CLIENT_ID" in check.summary and "KEYCLOAK_CLIENT_SECRET" in check.summary


def test_the_real_secret_is_never_printed_either(fake_keycloak, signing_key, settings_values) -> None:
    issue_jwt_service_tokens(fake_keycloak, signing_key)
    report = doctor(fake_keycloak, settings_values, client_credentials=True)
    assert CLIENT_SECRET not in report.render_text() + report.render_json()
