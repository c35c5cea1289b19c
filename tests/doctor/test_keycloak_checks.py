"""Checks 1 to 6 against the fake Keycloak: each failure named, with its evidence and fix."""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest

from fastapi_kc import ConfigurationError, KeycloakAuth, KeycloakSettings
from fastapi_kc._doctor import run_doctor
from fastapi_kc._doctor_report import Status
from tests.doctor.support import doctor, issue_jwt_service_tokens
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import INTERNAL_URL, ISSUER, SigningKey

DISCOVERY_URL = f"{INTERNAL_URL}/realms/demo/.well-known/openid-configuration"


def fail_with(exc: Exception) -> object:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def connect_error(cause: BaseException) -> httpx.ConnectError:
    error = httpx.ConnectError(str(cause))
    error.__cause__ = cause
    return error


# --- 1. settings ------------------------------------------------------------------------------


def test_a_healthy_set_up_passes_every_check_in_order(fake_keycloak, settings_values) -> None:
    report = doctor(fake_keycloak, settings_values)
    assert [(c.id, c.status) for c in report.checks if c.status is not Status.WARN] == [
        ("settings", Status.PASS),
        ("reach", Status.PASS),
        ("discovery", Status.PASS),
        ("issuer", Status.PASS),
        ("keys", Status.PASS),
        ("clock", Status.SKIP),
    ]
    assert report.exit_code == 0


def test_settings_are_read_from_the_environment_and_a_missing_variable_is_named(monkeypatch) -> None:
    monkeypatch.setenv("KEYCLOAK_PUBLIC_URL", "https://auth.example.test")
    monkeypatch.setenv("KEYCLOAK_AUDIENCE", "api")
    report = asyncio.run(run_doctor())
    check = report.get("settings")
    assert check.status is Status.FAIL and "KEYCLOAK_REALM (realm): required but not set" in check.evidence
    assert report.exit_code == 1 and [c.id for c in report.checks] == ["settings"]


def test_plain_http_to_another_host_is_a_warning_not_a_failure(fake_keycloak, settings_values) -> None:
    report = doctor(fake_keycloak, settings_values)
    check = report.get("settings.internal_url")
    assert check.status is Status.WARN and "KEYCLOAK_INTERNAL_URL uses plain http" in check.summary
    assert report.exit_code == 0


# --- 2. reach -----------------------------------------------------------------------------------


def test_a_host_name_that_does_not_resolve_is_named(fake_keycloak, settings_values) -> None:
    report = doctor(fake_keycloak, {**settings_values, "internal_url": "http://keycloak.invalid:8080"})
    check = report.get("reach")
    assert check.status is Status.FAIL and "the host name does not resolve" in check.summary
    assert "KEYCLOAK_INTERNAL_URL" in check.fix and "keycloak.invalid" in check.summary


def test_a_refused_connection_hints_that_localhost_in_a_container_is_the_container(
    fake_keycloak, settings_values
) -> None:
    fake_keycloak.down = True
    check = doctor(fake_keycloak, settings_values).get("reach")
    assert check.status is Status.FAIL and "connection was refused" in check.summary
    assert "`localhost` is the container itself" in check.fix


def test_a_timeout_is_named_with_the_timeout_setting(fake_keycloak, settings_values) -> None:
    fake_keycloak.override = fail_with(httpx.ConnectTimeout("timed out"))
    check = doctor(fake_keycloak, settings_values).get("reach")
    assert "no answer within 5 s" in check.summary and "KEYCLOAK_HTTP_TIMEOUT_SECONDS" in check.fix


def test_an_untrusted_certificate_points_at_the_ca_bundle_never_at_disabling_verification(
    fake_keycloak, settings_values
) -> None:
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    fake_keycloak.override = fail_with(connect_error(cause))
    check = doctor(fake_keycloak, settings_values).get("reach")
    assert "the TLS certificate is not trusted" in check.summary
    assert "KEYCLOAK_CA_BUNDLE" in check.fix and "never switched off" in check.fix


def test_a_certificate_for_another_host_name_asks_for_a_matching_url(fake_keycloak, settings_values) -> None:
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed: Hostname mismatch, certificate is not valid")
    fake_keycloak.override = fail_with(connect_error(cause))
    check = doctor(fake_keycloak, settings_values).get("reach")
    assert "certificate is for another host name" in check.summary and "KEYCLOAK_INTERNAL_URL" in check.fix


def test_https_against_a_plain_http_port_is_a_wrong_scheme_not_a_certificate_problem(
    fake_keycloak, settings_values
) -> None:
    cause = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1000)")
    fake_keycloak.override = fail_with(connect_error(cause))
    check = doctor(fake_keycloak, settings_values).get("reach")
    assert "does not speak the expected protocol" in check.summary
    assert "scheme of KEYCLOAK_INTERNAL_URL" in check.fix


def test_http_against_a_tls_port_that_hangs_up_is_a_wrong_scheme(fake_keycloak, settings_values) -> None:
    fake_keycloak.override = fail_with(httpx.RemoteProtocolError("Server disconnected without sending a response."))
    check = doctor(fake_keycloak, settings_values).get("reach")
    assert "scheme of KEYCLOAK_INTERNAL_URL" in check.fix


def test_a_ca_bundle_that_is_not_pem_is_named(tmp_path: Path, settings_values) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate")

    check = asyncio.run(run_doctor(KeycloakSettings(**settings_values, ca_bundle=bundle))).get("reach")
    assert check.status is Status.FAIL and "KEYCLOAK_CA_BUNDLE cannot be loaded" in check.summary


def test_when_keycloak_cannot_be_reached_the_checks_that_need_it_are_skipped(fake_keycloak, settings_values) -> None:
    fake_keycloak.down = True
    report = doctor(fake_keycloak, settings_values)
    skipped = [report.get(name) for name in ("discovery", "issuer", "keys", "clock")]
    assert all(check.status is Status.SKIP and "cannot be reached" in check.summary for check in skipped)


# --- 3. discovery -------------------------------------------------------------------------------


def test_a_404_names_the_realm_and_the_auth_prefix_of_keycloak_before_17(fake_keycloak, settings_values) -> None:
    check = doctor(fake_keycloak, {**settings_values, "realm": "Demo"}).get("discovery")
    assert check.status is Status.FAIL and "realm 'Demo' does not exist" in check.summary
    assert "404" in check.evidence and "KEYCLOAK_AUTH_PATH=/auth" in check.fix


def test_a_404_under_auth_while_the_realm_answers_without_it_says_to_unset_the_prefix(
    fake_keycloak, settings_values
) -> None:
    check = doctor(fake_keycloak, {**settings_values, "auth_path": "/auth"}).get("discovery")
    assert f"but GET {DISCOVERY_URL} answered HTTP 200" in check.evidence
    assert check.fix.startswith("unset KEYCLOAK_AUTH_PATH")


def test_a_redirect_names_where_it_points(fake_keycloak, settings_values) -> None:
    fake_keycloak.override = lambda request: httpx.Response(302, headers={"Location": "https://sso.example.test/"})
    check = doctor(fake_keycloak, settings_values).get("discovery")
    assert "redirects" in check.summary and "Location: https://sso.example.test/" in check.evidence


def test_a_document_that_is_not_json_says_what_came_back(fake_keycloak, settings_values) -> None:
    page = b"<!DOCTYPE html><html><title>Sign in</title></html>"
    fake_keycloak.override = lambda request: httpx.Response(200, content=page, headers={"Content-Type": "text/html"})
    check = doctor(fake_keycloak, settings_values).get("discovery")
    assert "not a JSON document" in check.summary
    assert "text/html" in check.evidence and "<!DOCTYPE html>" in check.evidence


# --- 4. issuer ----------------------------------------------------------------------------------


def test_an_issuer_mismatch_names_both_values_and_both_fixes(fake_keycloak, settings_values) -> None:
    fake_keycloak.discovery_issuer = "http://keycloak.internal:8080/realms/demo"
    check = doctor(fake_keycloak, settings_values).get("issuer")
    assert ISSUER in check.summary and "http://keycloak.internal:8080/realms/demo" in check.summary
    assert "KEYCLOAK_PUBLIC_URL" in check.fix and "`hostname` option" in check.fix


def test_the_issuer_mismatch_printed_is_the_start_up_error_of_keycloak_auth(fake_keycloak, settings_values) -> None:
    fake_keycloak.discovery_issuer = "http://keycloak.internal:8080/realms/demo"

    async def start() -> None:
        async with KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client()):
            pass

    with pytest.raises(ConfigurationError) as info:
        asyncio.run(start())
    start_up = str(info.value).removeprefix("Keycloak start-up check failed: ")
    printed = doctor(fake_keycloak, settings_values).render_text()
    assert f"[FAIL] issuer: {start_up}\n" in printed


# --- 5. key set ---------------------------------------------------------------------------------


def test_the_key_set_check_counts_the_signing_keys_and_names_their_algorithms(fake_keycloak, settings_values) -> None:
    check = doctor(fake_keycloak, settings_values).get("keys")
    assert check.summary == "1 signing key(s) usable with RS256" and "kid-rsa-1 (RS256)" in check.evidence


def test_a_realm_signing_with_es256_while_only_rs256_is_allowed_fails_with_the_fix(settings_values) -> None:
    fake = FakeKeycloak(keys=[SigningKey.ec("kid-ec-1")])
    check = doctor(fake, settings_values).get("keys")
    assert check.status is Status.FAIL and "no signing key usable with KEYCLOAK_ALGORITHMS=RS256" in check.summary
    assert "kid-ec-1" in check.evidence and "RS256,ES256" in check.fix


def test_an_extra_signing_key_of_a_disallowed_algorithm_is_a_warning(signing_key, settings_values) -> None:
    fake = FakeKeycloak(keys=[signing_key, SigningKey.ec("kid-ec-1")])
    report = doctor(fake, settings_values)
    assert report.get("keys").status is Status.PASS
    check = report.get("keys.algorithms")
    assert check.status is Status.WARN and "kid-ec-1 (ES256)" in check.evidence


def test_a_key_set_that_is_not_a_jwks_is_named(fake_keycloak, settings_values) -> None:
    def certs(request: httpx.Request) -> httpx.Response | None:
        return httpx.Response(200, json={"error": "no"}) if request.url.path.endswith("/certs") else None

    fake_keycloak.override = certs
    assert "not a JWKS document" in doctor(fake_keycloak, settings_values).get("keys").summary


# --- 6. clock -----------------------------------------------------------------------------------


def serve_date(fake: FakeKeycloak, keycloak_time: float) -> None:
    """Keycloak behind a proxy that adds a Date header."""
    transport = fake.transport()

    async def handle(request: httpx.Request) -> httpx.Response:
        response = await transport.handle_async_request(request)
        response.headers["Date"] = formatdate(keycloak_time, usegmt=True)
        return response

    fake.transport = lambda: httpx.MockTransport(handle)  # type: ignore[method-assign]


def test_clocks_within_the_leeway_pass(fake_keycloak, settings_values) -> None:
    serve_date(fake_keycloak, time.time())
    assert doctor(fake_keycloak, settings_values).get("clock").status is Status.PASS


def test_a_clock_ahead_of_keycloak_by_more_than_the_leeway_fails(fake_keycloak, settings_values) -> None:
    serve_date(fake_keycloak, time.time() - 120)
    check = doctor(fake_keycloak, settings_values).get("clock")
    assert check.status is Status.FAIL and re.search(r"1(19|20|21) s ahead of Keycloak's", check.summary)
    assert "KEYCLOAK_LEEWAY_SECONDS tolerates 30 s" in check.summary and "NTP" in check.fix


def test_without_a_date_header_a_fresh_service_tokens_iat_is_keycloaks_clock(
    fake_keycloak, signing_key, settings_values
) -> None:
    issue_jwt_service_tokens(fake_keycloak, signing_key)
    check = doctor(fake_keycloak, settings_values, client_credentials=True, clock=lambda: time.time() + 300).get(
        "clock"
    )
    assert check.status is Status.FAIL and re.search(r"(299|300|301) s ahead", check.summary)
    assert "iat" in check.evidence


def test_without_a_date_header_or_a_token_the_clock_is_not_compared(fake_keycloak, settings_values) -> None:
    check = doctor(fake_keycloak, settings_values).get("clock")
    assert check.status is Status.SKIP and "--client-credentials" in check.summary


def test_without_a_date_header_and_with_a_refused_service_token_the_clock_skip_says_so(
    fake_keycloak, settings_values
) -> None:
    report = doctor(fake_keycloak, {**settings_values, "client_secret": "wrong"}, client_credentials=True)
    assert report.get("clock").summary.endswith("issued no service token to compare with")
