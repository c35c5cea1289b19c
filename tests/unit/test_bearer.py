"""The bearer token of a request: from the Authorization header only, strictly."""

from __future__ import annotations

import pytest

from fastapi_kc import InvalidRequestError, MissingTokenError
from fastapi_kc._bearer import bearer_token


def headers(*values: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"host", b"api")] + [(b"authorization", v) for v in values]


@pytest.mark.parametrize("scheme", [b"Bearer", b"bearer", b"BEARER", b"bEaReR"])
def test_the_scheme_is_case_insensitive(scheme: bytes) -> None:
    assert bearer_token(headers(scheme + b" abc.def.ghi")) == "abc.def.ghi"


def test_the_header_name_is_case_insensitive() -> None:
    assert bearer_token([(b"Authorization", b"Bearer abc")]) == "abc"


@pytest.mark.parametrize("value", [None, b"Basic dXNlcjpwYXNz", b"Token abc", b"Bearerabc"])
def test_no_bearer_credentials_is_a_missing_token(value: bytes | None) -> None:
    with pytest.raises(MissingTokenError):
        bearer_token(headers(value) if value is not None else headers())


@pytest.mark.parametrize(
    "value",
    [b"bearer", b"Bearer ", b"Bearer  ", b"Bearer a b", b'Bearer a"b', b"Bearer a,b", b"Bearer \xff", b"Bearer a\tb"],
)
def test_a_malformed_token_is_an_invalid_request(value: bytes) -> None:
    with pytest.raises(InvalidRequestError):
        bearer_token(headers(value))


def test_two_authorization_headers_are_an_invalid_request() -> None:
    with pytest.raises(InvalidRequestError, match="more than one"):
        bearer_token(headers(b"Bearer a", b"Bearer b"))


def test_the_b64token_alphabet_of_rfc_6750_is_accepted() -> None:
    assert bearer_token(headers(b"Bearer aZ09-._~+/==")) == "aZ09-._~+/=="
