"""What went wrong between this service and Keycloak, and how to fix it: one source of truth.

The start-up checks of `KeycloakAuth` raise `ConfigurationError` with these messages, the key
cache logs them, and `fastapi-kc doctor` prints them: a failure reads the same wherever it
is seen. Each message names the URL, what was expected, what was found, and the fix.

The wording lives in pure modules by subject; this module gathers them under one name
(`from fastapi_kc import _diagnostics as diagnose`):

- `_diagnosis`: the `Diagnosis` every one of them is (problem, evidence, fix);
- `_diagnose_network`: the way to Keycloak (DNS, connections, timeouts, TLS, plain http);
- `_diagnose_keycloak`: Keycloak's answers (discovery and issuer, statuses, documents, keys, clock);
- `_diagnose_tokens`: refused access tokens;
- `_diagnose_clients`: Keycloak's refusals of this service as a client;
- `_diagnose_state`: a running service's state (health, doctor).
"""

from __future__ import annotations

from fastapi_kc._diagnose_clients import client_authentication_refused, token_request_refused
from fastapi_kc._diagnose_keycloak import (
    clock_skew,
    http_status,
    issuer_mismatch,
    no_usable_keys,
    not_a_key_set,
    not_json,
    other_signing_keys,
    realm_found_elsewhere,
    too_large,
)
from fastapi_kc._diagnose_network import (
    NetworkFailure,
    bad_ca_bundle,
    classify_network_error,
    describe_network_error,
    plain_http,
    unreachable,
)
from fastapi_kc._diagnose_state import (
    keys_never_loaded,
    keys_refresh_overdue,
    keys_too_old,
    not_started,
    revocation_store_state,
)
from fastapi_kc._diagnose_tokens import token_refused, unknown_kid
from fastapi_kc._diagnosis import Diagnosis

__all__ = [
    "Diagnosis",
    "NetworkFailure",
    "bad_ca_bundle",
    "classify_network_error",
    "client_authentication_refused",
    "clock_skew",
    "describe_network_error",
    "http_status",
    "issuer_mismatch",
    "keys_never_loaded",
    "keys_refresh_overdue",
    "keys_too_old",
    "no_usable_keys",
    "not_a_key_set",
    "not_json",
    "not_started",
    "other_signing_keys",
    "plain_http",
    "realm_found_elsewhere",
    "revocation_store_state",
    "token_refused",
    "token_request_refused",
    "too_large",
    "unknown_kid",
    "unreachable",
]
