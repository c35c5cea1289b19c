"""Everything but one compact JWS in canonical base64url over UTF-8 JSON objects (RFC 7515 §3, §7.1).

Wrong segment counts, the JSON serialization, padding, whitespace, the standard alphabet,
non-canonical trailing bits, non-UTF-8 and non-object JSON, absurd sizes. Where a token is
signed, it is signed over exactly the bytes sent, so the encoding is the only fault.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from fastapi_kc import AuthError
from tests.attacks.harness import Target, realm_header, signed_raw
from tests.support.tokens import SigningKey, mint, user_claims


@pytest.fixture
def token(signing_key: SigningKey) -> str:
    return mint(user_claims(), signing_key)


def test_control_the_realm_signed_token_is_accepted(target: Target, token: str) -> None:
    target.accepted(token)


# --- segments -----------------------------------------------------------------------------------

SEGMENTS: dict[str, Callable[[str], str]] = {
    "2-segments": lambda t: t.rsplit(".", 1)[0],
    "4-segments": lambda t: f"{t}.{t.split('.')[2]}",
    "4-segments-empty-last": lambda t: f"{t}.",
    "5-segments-jwe-shape": lambda t: ".".join([*t.split("."), "AAAA", "AAAA"]),
    "5-segments-empty-key": lambda t: t.replace(".", "..", 1) + ".AAAA",
    "leading-dot": lambda t: f".{t}",
    "empty-header": lambda t: "." + t.split(".", 1)[1],
    "empty-payload": lambda t: t.split(".")[0] + ".." + t.split(".")[2],
    "empty-token": lambda t: "",
    "dots-only": lambda t: "..",
    "json-flattened": lambda t: json.dumps(dict(zip(["protected", "payload", "signature"], t.split("."), strict=True))),
    "json-general": lambda t: json.dumps(
        {"payload": t.split(".")[1], "signatures": [{"protected": t.split(".")[0], "signature": t.split(".")[2]}]}
    ),
}


@pytest.mark.parametrize("shape", list(SEGMENTS))
def test_anything_but_three_segments_is_refused(target: Target, token: str, shape: str) -> None:
    target.refused(SEGMENTS[shape](token))


# --- base64url ---------------------------------------------------------------------------------

PART = {"header": 0, "payload": 1, "signature": 2}


def _standard_alphabet(segment: str) -> str:
    return segment.replace("-", "+").replace("_", "/")


def _non_canonical(segment: str) -> str:
    """Same bytes, but the last character's unused low bits set (if the length leaves any)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused = {2: 0b1111, 3: 0b11}.get(len(segment) % 4)
    assert unused is not None, "segment length leaves no unused bits"
    return segment[:-1] + alphabet[alphabet.index(segment[-1]) | unused]


ENCODINGS: dict[str, Callable[[str], str]] = {
    "padding": lambda s: s + "=" * (-len(s) % 4 or 4),
    "one-pad-char": lambda s: s + "=",
    "space-inside": lambda s: s[:5] + " " + s[5:],
    "tab-inside": lambda s: s[:5] + "\t" + s[5:],
    "newline-inside": lambda s: s[:5] + "\n" + s[5:],
    "trailing-newline": lambda s: s + "\n",
    "standard-alphabet": _standard_alphabet,
    "non-canonical-trailing-bits": _non_canonical,
    "percent-encoded-char": lambda s: s[:5] + "%41" + s[5:],
    "non-ascii-char": lambda s: s[:5] + "\u00e9" + s[5:],
    "one-char-removed": lambda s: s[:-1],
    "one-char-added": lambda s: s + "A",
}


def _canonical_token(key: SigningKey) -> str:
    """A real token whose every segment leaves unused bits and holds `-` or `_`.

    So that every mutation below really changes the token: padding applies, the trailing bits
    can be set, and the standard alphabet differs from the URL one.
    """
    for n in range(64):
        pad = "?" * (n % 8)
        header = realm_header(key, x=f"~~~???>>>{pad}")
        token = signed_raw(header, user_claims(note=f"~~~???>>>{pad}", jti=f"jti-{n}"), key)
        if all(len(p) % 4 in (2, 3) and ("-" in p or "_" in p) for p in token.split(".")):
            return token
    raise AssertionError("no suitable token found")


@pytest.mark.parametrize("part", list(PART))
@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_a_segment_not_in_canonical_base64url_is_refused(
    target: Target, signing_key: SigningKey, encoding: str, part: str
) -> None:
    token = _canonical_token(signing_key)
    target.accepted(token)  # the mutation below is the only difference
    parts = token.split(".")
    parts[PART[part]] = ENCODINGS[encoding](parts[PART[part]])
    target.refused(".".join(parts))


@pytest.mark.parametrize("where", ["leading-space", "trailing-space", "trailing-newline", "leading-bom"])
def test_whitespace_around_the_token_is_refused_by_verify(target: Target, token: str, where: str) -> None:
    # verify() takes the token as given; the HTTP face strips spaces around the header value only.
    wrapped = {
        "leading-space": f" {token}",
        "trailing-space": f"{token} ",
        "trailing-newline": f"{token}\n",
        "leading-bom": f"\ufeff{token}",
    }[where]
    result = target.outcome(wrapped)
    assert isinstance(result, AuthError), result
    assert result.status_code == 401


# --- what the segments decode to ------------------------------------------------------------------

CLAIMS = json.dumps(user_claims(), separators=(",", ":"))
BAD_JSON: dict[str, bytes] = {
    "latin-1-byte": CLAIMS.replace('"Mario Rossi"', '"Mario Ross\xed"').encode("latin-1"),
    "overlong-utf8": CLAIMS.encode().replace(b'"Mario', b'"\xc0\xafMario'),
    "utf-16": CLAIMS.encode("utf-16"),
    "utf-8-bom": b"\xef\xbb\xbf" + CLAIMS.encode(),
    "truncated-utf8-sequence": CLAIMS.encode().replace(b'"Mario Rossi"', b'"Mario \xe2\x82"'),
    "json-array": b"[" + CLAIMS.encode() + b"]",
    "json-string": json.dumps(CLAIMS).encode(),
    "json-null": b"null",
    "json-number": b"1",
    "empty": b"",
    "nan": CLAIMS.replace('"acr":"1"', '"acr":NaN').encode(),
    "infinity": CLAIMS.replace('"acr":"1"', '"acr":-Infinity').encode(),
    "trailing-garbage": CLAIMS.encode() + b"x",
    "two-objects": CLAIMS.encode() + CLAIMS.encode(),
    "single-quotes": CLAIMS.replace('"', "'").encode(),
    "nesting-bomb": CLAIMS[:-1].encode() + b',"x":' + b"[" * 5000 + b"]" * 5000 + b"}",
    "5000-digit-number": CLAIMS[:-1].encode() + b',"x":' + b"9" * 5000 + b"}",
}


@pytest.mark.parametrize("name", list(BAD_JSON))
def test_a_payload_not_a_utf8_json_object_is_refused(target: Target, signing_key: SigningKey, name: str) -> None:
    target.refused(signed_raw(realm_header(signing_key), BAD_JSON[name], signing_key))


HEADER = json.dumps({"alg": "RS256", "typ": "JWT", "kid": "kid-rsa-1"}, separators=(",", ":"))
BAD_HEADERS: dict[str, bytes] = {
    "latin-1-byte": HEADER.replace('"JWT"', '"JW\xd4"').encode("latin-1"),
    "utf-16": HEADER.encode("utf-16"),
    "utf-8-bom": b"\xef\xbb\xbf" + HEADER.encode(),
    "json-array": b"[" + HEADER.encode() + b"]",
    "json-null": b"null",
    "empty": b"",
    "nan": HEADER.replace('"JWT"', "NaN").encode(),
    "trailing-garbage": HEADER.encode() + b"}",
    "nesting-bomb": HEADER[:-1].encode() + b',"x":' + b"[" * 3000 + b"]" * 3000 + b"}",
}


@pytest.mark.parametrize("name", list(BAD_HEADERS))
def test_a_header_not_a_utf8_json_object_is_refused(target: Target, signing_key: SigningKey, name: str) -> None:
    target.refused(signed_raw(BAD_HEADERS[name], user_claims(), signing_key))


# --- size ------------------------------------------------------------------------------------------


def test_a_token_over_max_token_bytes_is_refused_before_decoding(target: Target, signing_key: SigningKey) -> None:
    big = mint(user_claims(padding="x" * 20_000), signing_key)  # genuinely signed, only too big
    assert len(big) > target.settings.max_token_bytes
    assert target.refused(big).reason == "too_large"


def test_a_megabyte_of_dots_is_refused(target: Target) -> None:
    target.refused("." * 1_000_000)


def test_a_non_string_token_given_to_verify_is_refused(target: Target) -> None:
    for value in (None, b"a.b.c", 1, ["a", "b", "c"]):
        result = target.outcome(value)
        assert isinstance(result, AuthError), value
        assert result.status_code == 401
