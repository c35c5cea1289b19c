"""A token's JSON: pydantic-core's parser reads it first, and the verdict is always the standard
library's (the same acceptance, the same values)."""

from __future__ import annotations

import json
from typing import Any, Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastapi_kc import InvalidTokenError, _jws
from fastapi_kc._jws import decode_json_object
from tests.support.tokens import user_claims

REFUSED: Final = "refused"
PAYLOAD: Final = json.dumps(user_claims()).encode()
# Bytes that matter to a JSON parser, and some that must never pass (controls, invalid UTF-8).
SIGNIFICANT: Final = b'{}[]":,0123456789.eE+-\\u ntrfalsebx\x00\x1f\x7f\x80\xff\xc3\xa9\xed\t\n\r\x0b\x0c'
PROPERTY: Final = settings(max_examples=400, deadline=None, derandomize=True, database=None)


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


STANDARD: Final = json.JSONDecoder(parse_constant=_reject_constant)


def standard_verdict(data: bytes) -> Any:
    """What the standard library alone makes of `data`: an object's value, or REFUSED."""
    try:
        value = STANDARD.decode(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return REFUSED
    return value if isinstance(value, dict) else REFUSED


def our_verdict(data: bytes) -> Any:
    try:
        return decode_json_object(data, "payload")
    except InvalidTokenError:
        return REFUSED


def same(ours: Any, theirs: Any) -> bool:
    """The same JSON value down to types and order: 1 is not 1.0, -0.0 is not 0.0."""
    if type(ours) is not type(theirs):
        return False
    if isinstance(ours, dict):
        return list(ours) == list(theirs) and all(same(ours[key], theirs[key]) for key in ours)
    if isinstance(ours, list):
        return len(ours) == len(theirs) and all(map(same, ours, theirs))
    if isinstance(ours, float):
        return repr(ours) == repr(theirs)
    return bool(ours == theirs)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@PROPERTY
@given(
    st.dictionaries(st.text(max_size=8), json_values, max_size=6),
    st.booleans(),
    st.sampled_from(["", " ", "\n", "\t", "\r\n"]),
)
def test_any_json_object_reads_as_the_standard_library_reads_it(
    document: dict[str, Any], ascii_only: bool, space: str
) -> None:
    data = (space + json.dumps(document, ensure_ascii=ascii_only) + space).encode("utf-8")
    assert same(our_verdict(data), standard_verdict(data))
    assert same(our_verdict(data), document)


@PROPERTY
@given(
    st.lists(
        st.tuples(st.integers(0, len(PAYLOAD) - 1), st.sampled_from(SIGNIFICANT), st.sampled_from("rid")),
        min_size=1,
        max_size=4,
    )
)
def test_a_mangled_payload_gets_the_standard_librarys_verdict(edits: list[tuple[int, int, str]]) -> None:
    data = bytearray(PAYLOAD)
    for place, byte, edit in edits:
        place %= len(data)
        if edit == "r":
            data[place] = byte
        elif edit == "i":
            data.insert(place, byte)
        else:
            del data[place]
    assert same(our_verdict(bytes(data)), standard_verdict(bytes(data)))


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b'{"a": "\\ud800"}', id="lone-surrogate"),
        pytest.param(b'{"a": "\\udc00\\ud800"}', id="reversed-surrogates"),
        pytest.param(b'{"a": ' + b"[" * 300 + b"]" * 300 + b"}", id="nested-300-deep"),
    ],
)
def test_json_pydantic_core_is_stricter_about_is_read_as_the_standard_library_reads_it(data: bytes) -> None:
    assert standard_verdict(data) != REFUSED
    assert same(our_verdict(data), standard_verdict(data))


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": NaN}', b'{"a": -Infinity}', b'\xef\xbb\xbf{"a": 1}', b'{"a": "\xed\xa0\x80"}', b'{"a": 1}\x0b',
        b'{"a": 1, }', b'{"a": 01}', b'{"a": ' + b"1" * 5000 + b"}", b'{"a": "\x01"}',
        b'{"a": ' + b"[" * 100_000 + b"}",
    ],
)  # fmt: skip
def test_json_both_parsers_refuse_is_refused(data: bytes) -> None:
    assert standard_verdict(data) == REFUSED
    with pytest.raises(InvalidTokenError, match="not valid JSON"):
        decode_json_object(data, "payload")


def test_a_payload_is_read_by_pydantic_core_and_only_its_refusals_reach_the_standard_library(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read_by_standard: list[bytes] = []
    monkeypatch.setattr(_jws, "_decode_standard", lambda data, what: read_by_standard.append(data) or {})
    assert decode_json_object(PAYLOAD, "payload") == json.loads(PAYLOAD)
    decode_json_object(b'{"a": "\\ud800"}', "payload")
    assert read_by_standard == [b'{"a": "\\ud800"}']
