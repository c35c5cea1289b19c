"""The compact JWS form, parsed strictly, and its signature checked directly with `cryptography`.

Why not a JOSE library's decode: a resource server needs one narrow path (three segments,
one asymmetric signature, a key chosen by `kid` from the realm's set) and nothing else: no
`jku`/`x5u`/`jwk`/`x5c` key sources, no unencoded payloads, no JSON serialisation, no HMAC.
Keeping the path this narrow is what RFC 8725 asks for, and it is also about twice as fast.
Every failure is an `InvalidTokenError`; no other exception leaves this module.
"""

from __future__ import annotations

import binascii
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from cryptography.exceptions import InvalidSignature
from pydantic_core import SchemaValidator, core_schema, from_json

from fastapi_kc._errors import InvalidTokenError
from fastapi_kc._keys import VerificationKey

_URL_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_URL_TO_STANDARD: Final = bytes.maketrans(b"-_+/=", b"+/!!!")
_SEXTET: Final = bytes(_URL_ALPHABET.find(bytes([i])) & 0x3F for i in range(256))
_UNUSED_BITS: Final = {1: 0b11, 2: 0b1111}  # by count of missing padding characters
_MAX_KID_LENGTH: Final = 256


def _base64_reader(read: Callable[[bytes], bytes]) -> Callable[[bytes], bytes] | None:
    """`read` (a JSON string in, its base64 decoded out) if it decodes as `b64url_decode`
    relies on, else None: pydantic-core before 2.21 ignores `val_json_bytes` and hands the
    text back undecoded, and the check of the unused bits is its own, not ours."""
    try:
        if read(b'"QUFB"') != b"AAA" or read(b'"QUE"') != b"AA":
            return None
    except ValueError:
        return None
    try:
        read(b'"QR"')  # the unused bits of the last character set: must be refused
    except ValueError:
        return read
    return None


# A JSON string holding base64 decoded to bytes, in Rust (pydantic-core's `val_json_bytes`);
# None where the installed pydantic-core does not decode as needed (the strict decoder serves).
_BASE64_IN_JSON_STRING: Final = _base64_reader(
    SchemaValidator(core_schema.bytes_schema(), config=core_schema.CoreConfig(val_json_bytes="base64")).validate_json
)


class CompactToken(NamedTuple):
    """A token split into its parts: the header checked, the payload not yet read or trusted.

    A named tuple, not a frozen dataclass: one is built for every new token, and a frozen
    dataclass sets each field through `object.__setattr__` (about twice the cost).
    """

    alg: str
    kid: str
    signing_input: bytes
    payload_segment: bytes  # base64url, as in the token
    signature: bytes


def b64url_decode(segment: str | bytes) -> bytes:
    """Strict base64url (RFC 7515 §2): no padding, no whitespace, no unused bits set.

    A lenient decoder lets one token have many spellings; strictness keeps one token one string.
    pydantic-core's base64 (Rust, reached through a JSON string) decodes first: on a token's
    payload it takes about a third of the standard library's time, on every new token. It is
    lenient (both alphabets, optional padding), so its result is kept only where it cannot
    differ from the strict reading: no `+` or `/` in the input, and exactly floor(3n/4) bytes
    out for n characters in (padding and JSON escapes yield fewer); unused bits set it refuses
    itself (`_base64_reader` checks that, at import). Anything else goes to the strict decoder,
    whose verdict counts (`_decode_strict`; `tests/unit/test_base64url_decoding.py` holds the
    two to the same answers).
    """
    if isinstance(segment, str):
        try:
            data = segment.encode("ascii")
        except UnicodeEncodeError:
            raise InvalidTokenError("token is not base64url-encoded", reason="malformed") from None
    else:
        data = segment
    read = _BASE64_IN_JSON_STRING
    # 43 and 47 are b"+" and b"/", the standard alphabet's own characters.
    if read is not None and 43 not in data and 47 not in data:
        raw: bytes | None
        try:
            raw = read(b'"' + data + b'"')
        except ValueError:  # pydantic-core's ValidationError
            raw = None
        if raw is not None and len(raw) == len(data) * 3 // 4:
            return raw
    return _decode_strict(data)


def _decode_strict(data: bytes) -> bytes:
    """The standard library's strict reading of `data`: the verdict for all the fast path refuses.

    One pass in C: the URL alphabet is mapped onto the standard one (with `+`, `/` and `=`
    mapped to an invalid byte) and decoded in strict mode; then the last character's unused
    bits are checked. Bytes are taken as they are (any byte outside the alphabet is refused).
    """
    missing = -len(data) % 4
    try:
        if missing == 3:
            raise binascii.Error("impossible length")
        raw = binascii.a2b_base64(data.translate(_URL_TO_STANDARD) + b"=" * missing, strict_mode=True)
    except binascii.Error:
        raise InvalidTokenError("token is not base64url-encoded", reason="malformed") from None
    if missing and _SEXTET[data[-1]] & _UNUSED_BITS[missing]:
        raise InvalidTokenError("token is not canonical base64url", reason="malformed")
    return raw


def decode_json_object(data: bytes, what: str) -> dict[str, Any]:
    """UTF-8 JSON that must be an object; `NaN`/`Infinity` and nesting bombs are refused.

    pydantic-core's parser (jiter, in Rust; installed with pydantic) reads it first: on a
    token's payload it takes about two thirds of the standard library's time, on every new
    token. It accepts nothing the standard library refuses and reads every value the same way
    (`tests/unit/test_json_decoding.py` holds the two to that); what it refuses goes to the
    standard library, whose verdict counts, so the JSON it is stricter about (lone surrogate
    escapes, nesting deeper than its limit) is still read by the standard library as before.
    """
    try:
        value = from_json(data, allow_inf_nan=False, cache_strings="keys")
    except ValueError:
        value = _decode_standard(data, what)
    if not isinstance(value, dict):
        raise InvalidTokenError(f"token {what} is not a JSON object", reason="malformed")
    return value


def _decode_standard(data: bytes, what: str) -> Any:
    """The standard library's reading of `data`: the verdict for all JSON jiter refuses."""
    try:
        return _DECODER.decode(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InvalidTokenError(f"token {what} is not valid JSON", reason="malformed") from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# One decoder for every call: `json.loads` with any option builds a new decoder each time,
# which costs more than decoding a token's payload.
_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant)


@dataclass(frozen=True, slots=True)
class _Header:
    alg: str
    kid: str


@functools.lru_cache(maxsize=256)
def _parse_header(segment: str) -> _Header:
    """The checked header of a token.

    Keycloak signs every token of a key with the same header, so the parse is remembered by the
    header segment's text: it is deterministic, failures are not remembered, and the table is
    bounded (a flood of odd headers only evicts entries).
    """
    fields = decode_json_object(b64url_decode(segment), "header")
    alg = fields.get("alg")
    # RFC 8725 §3.1: the algorithm is checked against our allow-list by the caller, here only
    # its type; it never selects a key type on its own.
    if not isinstance(alg, str):
        raise InvalidTokenError("token algorithm is not allowed", reason="algorithm")
    # RFC 7515 §4.1.11: a recipient MUST reject a JWS whose `crit` lists what it does not
    # understand; this verifier understands no extension, so any `crit` is refused.
    if "crit" in fields:
        raise InvalidTokenError("token header has critical extensions", reason="crit")
    kid = fields.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > _MAX_KID_LENGTH:
        raise InvalidTokenError("token header has no usable kid", reason="kid")
    # jku, x5u, jwk and x5c are deliberately never read: keys come from the realm's JWKS only.
    return _Header(alg, kid)


def parse_compact(token: str, *, allowed_algorithms: frozenset[str]) -> CompactToken:
    """Split and check the header of a compact JWS; the signature is not checked here.

    Raises:
        InvalidTokenError: not three base64url segments, a header that is not a JSON object,
            an algorithm outside the allow-list, a missing or odd `kid`, or any `crit`.
    """
    # Three searches for "." instead of a count and a split: each stops where the dot is, and
    # nothing is copied before the token is known to have exactly three parts.
    header_end = token.find(".")
    signature_start = token.rfind(".") + 1
    if not token.isascii() or header_end < 0 or token.find(".", header_end + 1) != signature_start - 1:
        raise InvalidTokenError("token is not a compact JWS (three dot-separated parts)", reason="malformed")
    if header_end == 0 or signature_start == header_end + 2 or signature_start == len(token):
        raise InvalidTokenError("token has an empty part (unsigned or truncated)", reason="malformed")
    header = _parse_header(token[:header_end])
    if header.alg not in allowed_algorithms:
        raise InvalidTokenError("token algorithm is not allowed", reason="algorithm")
    raw = token.encode("ascii")  # once: the signing input, payload and signature are its slices
    return CompactToken(
        header.alg,
        header.kid,
        raw[: signature_start - 1],
        raw[header_end + 1 : signature_start - 1],
        b64url_decode(raw[signature_start:]),
    )


def verified_payload(key: VerificationKey, token: CompactToken) -> dict[str, Any]:
    """The payload of `token`, read only once its signature has verified with `key`.

    Raises:
        InvalidTokenError: the signature does not verify, or the payload is not a JSON object.
    """
    verify_signature(key, token)
    return decode_json_object(b64url_decode(token.payload_segment), "payload")


def verify_signature(key: VerificationKey, token: CompactToken) -> None:
    """Check `token`'s signature with `key` for `token.alg`.

    Raises:
        InvalidTokenError: the key is not for this algorithm, or the signature does not verify.
    """
    check = key.checks.get(token.alg)
    if check is None:
        raise InvalidTokenError("token algorithm does not match its key", reason="algorithm")
    try:
        check(token.signature, token.signing_input)
    except InvalidSignature as exc:
        raise InvalidTokenError("token signature is invalid", reason="signature") from exc
