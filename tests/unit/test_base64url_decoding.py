"""A token's base64url: pydantic-core's decoder reads it first, and the verdict is always the
strict reading's (the same acceptance, the same bytes)."""

from __future__ import annotations

import base64
import re
from typing import Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastapi_kc import InvalidTokenError, _jws
from fastapi_kc._jws import b64url_decode

REFUSED: Final = "refused"
URL_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Characters a lenient base64 decoder or a JSON string reader makes something of, and some that
# must never pass: the standard alphabet, padding, JSON escapes and quotes, white space, controls.
SIGNIFICANT: Final = b'+/=\\"u0041dfn \t\n\r\x00\x1f\x7f\x80\xff.'
PROPERTY: Final = settings(max_examples=400, deadline=None, derandomize=True, database=None)


def strict_verdict(data: bytes) -> bytes | str:
    """RFC 7515's base64url read by the standard library alone: the URL alphabet only, no
    padding, a possible length, the unused bits of the last character zero."""
    text = data.decode("latin-1")
    if not re.fullmatch(f"[{re.escape(URL_ALPHABET)}]*", text) or len(text) % 4 == 1:
        return REFUSED
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != data:
        return REFUSED  # unused bits set: not the one canonical spelling of these bytes
    return raw


def our_verdict(data: bytes) -> bytes | str:
    try:
        return b64url_decode(data)
    except InvalidTokenError:
        return REFUSED


@PROPERTY
@given(st.binary(max_size=200))
def test_any_bytes_encoded_decode_to_themselves(raw: bytes) -> None:
    segment = base64.urlsafe_b64encode(raw).rstrip(b"=")
    assert our_verdict(segment) == raw
    assert our_verdict(segment.decode("ascii")) == raw  # as text, the same


@PROPERTY
@given(st.binary(min_size=1, max_size=60), st.lists(st.tuples(st.integers(0, 80), st.sampled_from(SIGNIFICANT),
       st.sampled_from("rid")), min_size=1, max_size=4))  # fmt: skip
def test_a_mangled_segment_gets_the_strict_verdict(raw: bytes, edits: list[tuple[int, int, str]]) -> None:
    data = bytearray(base64.urlsafe_b64encode(raw).rstrip(b"="))
    for place, byte, edit in edits:
        place %= len(data) + 1
        if edit == "r" and place < len(data):
            data[place] = byte
        elif edit == "d" and place < len(data):
            del data[place]
        else:
            data.insert(place, byte)
    assert our_verdict(bytes(data)) == strict_verdict(bytes(data))


@PROPERTY
@given(st.text(alphabet=URL_ALPHABET + '+/=\\"u0 ', max_size=24))
def test_any_short_segment_gets_the_strict_verdict(text: str) -> None:
    data = text.encode("ascii")
    assert our_verdict(data) == strict_verdict(data)


@pytest.mark.parametrize(
    "segment",
    [
        pytest.param(b"Q+8", id="standard-alphabet-plus"),
        pytest.param(b"Q/8", id="standard-alphabet-slash"),
        pytest.param(b"QQ==", id="padding"),
        pytest.param(b"QQ=", id="partial-padding"),
        pytest.param(b"Q\\u0051", id="json-escape"),
        pytest.param(b"QUF\\/", id="json-escaped-slash"),
        pytest.param(b'QU"B', id="quote"),
        pytest.param(b"QR", id="unused-bits-set"),
        pytest.param(b"QUFBQ", id="impossible-length"),
    ],
)
def test_what_a_lenient_decoder_accepts_is_refused(segment: bytes) -> None:
    assert strict_verdict(segment) == REFUSED
    with pytest.raises(InvalidTokenError):
        b64url_decode(segment)


def test_a_segment_is_read_by_pydantic_core_and_only_its_refusals_reach_the_strict_decoder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read_strictly: list[bytes] = []
    monkeypatch.setattr(_jws, "_decode_strict", lambda data: read_strictly.append(data) or b"")
    segment = base64.urlsafe_b64encode(bytes(range(256))).rstrip(b"=")
    assert b64url_decode(segment) == bytes(range(256))
    b64url_decode(b"QQ==")
    b64url_decode(b"Q+8")
    assert read_strictly == [b"QQ==", b"Q+8"]
