"""A token's base64url: pydantic-core's decoder reads it first, and the verdict is always the
strict reading's (the same acceptance, the same bytes)."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
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


def our_verdict(data: bytes | str) -> bytes | str:
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


def lenient_spelling(segment: bytes, place: int, how: str) -> bytes:
    """`segment` respelled the way a lenient decoder (or a JSON string reader) would still read it."""
    place %= len(segment) + 1
    if how == "pad":
        return segment + b"=" * (-len(segment) % 4 or 2)
    if how == "escape" and place < len(segment):  # one character as a JSON \u escape of itself
        return segment[:place] + b"\\u%04x" % segment[place] + segment[place + 1 :]
    if how == "slash":
        return segment[:place] + b"\\/" + segment[place:]
    if how == "newline":
        return segment[:place] + b"\\n" + segment[place:]
    # the standard alphabet for the URL one
    standard = segment.replace(b"-", b"+").replace(b"_", b"/")
    return standard if standard != segment else segment[:place] + b"+" + segment[place:]


@PROPERTY
@given(
    st.binary(min_size=1, max_size=60),
    st.lists(st.tuples(st.integers(0, 80), st.sampled_from(["pad", "escape", "slash", "newline", "standard"])),
             min_size=1, max_size=2),
)  # fmt: skip
def test_a_lenient_spelling_of_a_segment_gets_the_strict_verdict(
    raw: bytes, respellings: list[tuple[int, str]]
) -> None:
    data = base64.urlsafe_b64encode(raw).rstrip(b"=")
    for place, how in respellings:
        data = lenient_spelling(data, place, how)
    assert our_verdict(data) == strict_verdict(data)


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


def test_pydantic_core_decodes_base64_as_the_fast_path_needs() -> None:
    assert _jws._BASE64_IN_JSON_STRING is not None


@pytest.mark.parametrize(
    "reader",
    [
        pytest.param(lambda data: data[1:-1], id="text-handed-back-undecoded"),
        pytest.param(lambda data: base64.urlsafe_b64decode(data[1:-1] + b"=="), id="unused-bits-accepted"),
    ],
)
def test_a_base64_reader_that_decodes_otherwise_is_not_used(reader: Callable[[bytes], bytes]) -> None:
    # pydantic-core before 2.21 ignores `val_json_bytes` and returns the text as it is.
    assert _jws._base64_reader(reader) is None


def test_a_segment_is_read_by_pydantic_core_and_only_its_refusals_reach_the_strict_decoder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read_strictly: list[bytes] = []

    def strict(data: bytes) -> bytes:
        read_strictly.append(data)
        return b""

    monkeypatch.setattr(_jws, "_decode_strict", strict)
    segment = base64.urlsafe_b64encode(bytes(range(256))).rstrip(b"=")
    assert b64url_decode(segment) == bytes(range(256))
    b64url_decode(b"QQ==")
    b64url_decode(b"Q+8")
    assert read_strictly == [b"QQ==", b"Q+8"]
