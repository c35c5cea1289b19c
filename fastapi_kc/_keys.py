"""The realm's public keys: which JWKs are trusted, and for which algorithm.

Keys are imported once per key-set fetch (with joserfc, which validates the JWK members), and
kept as `cryptography` public keys so that checking a signature is one call. A key is trusted
only for algorithms of its own type (RFC 8725 §3.1: an RSA key must never verify an HMAC or an
ECDSA signature), and only if it is a public signing key.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from fastapi_kc._text import printable

# kty (and curve) each algorithm needs; RFC 7518 §3.3-3.5 and RFC 8037 §3.1.
_KEY_TYPE_OF_ALG: dict[str, tuple[str, str | None]] = {
    "RS256": ("RSA", None), "RS384": ("RSA", None), "RS512": ("RSA", None),
    "PS256": ("RSA", None), "PS384": ("RSA", None), "PS512": ("RSA", None),
    "ES256": ("EC", "P-256"), "ES384": ("EC", "P-384"), "ES512": ("EC", "P-521"),
    "EdDSA": ("OKP", "Ed25519"),
}  # fmt: skip
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_MIN_RSA_BITS = 2048  # RFC 7518 §3.3: a key of 2048 bits or larger MUST be used with RS*.

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


SignatureCheck = Callable[[bytes, bytes], None]
"""`check(signature, signing_input)`: returns, or raises `cryptography.exceptions.InvalidSignature`."""


@dataclass(frozen=True, slots=True, eq=False)
class VerificationKey:
    """One public signing key of the realm, with a prepared check for each algorithm it may verify."""

    kid: str
    checks: Mapping[str, SignatureCheck]
    public_key: PublicKey
    jwk: Mapping[str, Any] = field(repr=False)

    @property
    def algorithms(self) -> frozenset[str]:
        return frozenset(self.checks)


@dataclass(frozen=True, slots=True)
class KeySet:
    """The trusted keys by `kid`, plus what was left out of the JWKS and why (for diagnostics)."""

    keys: Mapping[str, VerificationKey]
    skipped: tuple[str, ...] = ()

    def get(self, kid: str) -> VerificationKey | None:
        return self.keys.get(kid)

    def __len__(self) -> int:
        return len(self.keys)

    def describe(self) -> str:
        """`kid (alg, ...)` for each key; what a log line or an error message shows."""
        return (
            ", ".join(f"{printable(kid)} ({'/'.join(sorted(k.algorithms))})" for kid, k in self.keys.items()) or "none"
        )


def key_set_from_jwks(document: Any, allowed_algorithms: Iterable[str], previous: KeySet | None = None) -> KeySet:
    """Build the trusted key set from a JWKS document.

    Keys that cannot be trusted are skipped with a reason: not for signing (`use` other than
    `sig`), private material published by mistake, a type or curve no allowed algorithm uses, a
    weak RSA key, a duplicate `kid`. Keys unchanged since `previous` are reused as the same
    objects, so that tokens verified with them stay valid in the verified-token cache.

    Raises:
        ValueError: the document is not a JWKS (`{"keys": [...]}`).
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError('not a JWKS document: expected a JSON object with a "keys" array')
    allowed = frozenset(allowed_algorithms)
    keys: dict[str, VerificationKey] = {}
    skipped: list[str] = []
    duplicates: set[str] = set()
    for entry in document["keys"]:
        try:
            key = _import_key(entry, allowed)
        except ValueError as exc:
            kid = entry.get("kid") if isinstance(entry, dict) else None
            skipped.append(f"{printable(kid) if isinstance(kid, str) else '(no kid)'}: {exc}")
            continue
        if key.kid in keys or key.kid in duplicates:
            # Two keys under one kid: neither can be chosen safely.
            keys.pop(key.kid, None)
            duplicates.add(key.kid)
            skipped.append(f"{printable(key.kid)}: kid published twice")
            continue
        old = previous.get(key.kid) if previous else None
        same = old is not None and old.jwk == key.jwk and old.algorithms == key.algorithms
        keys[key.kid] = old if old is not None and same else key
    return KeySet(keys, tuple(skipped))


def _import_key(entry: Any, allowed: frozenset[str]) -> VerificationKey:
    if not isinstance(entry, dict):
        raise ValueError("not a JSON object")
    kid = entry.get("kid")
    if not isinstance(kid, str) or not kid:
        raise ValueError("no kid")
    if entry.get("use", "sig") != "sig":
        raise ValueError(f"use is {printable(entry.get('use'), 40, quoted=True)}, not 'sig'")
    if _PRIVATE_MEMBERS & entry.keys():
        raise ValueError("contains private or symmetric key material; a public JWKS never should")
    key_ops = entry.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise ValueError("key_ops does not include 'verify'")
    kty, crv = entry.get("kty"), entry.get("crv")
    algorithms = frozenset(alg for alg in allowed if _KEY_TYPE_OF_ALG[alg] == (kty, crv if kty != "RSA" else None))
    declared = entry.get("alg")
    shown = f"kty {printable(kty, 40, quoted=True)}" + (f" crv {printable(crv, 40, quoted=True)}" if crv else "")
    shown += f", alg {printable(declared, 40, quoted=True)}"
    if declared is not None and not isinstance(declared, str):
        raise ValueError(f"{shown} (not a string): no allowed algorithm uses it")
    if declared is not None:
        # A key published for one algorithm is used for that one only (RFC 7517 §4.4).
        algorithms = algorithms & {declared}
    if not algorithms:
        raise ValueError(f"{shown}: no allowed algorithm uses it")
    public_key = _public_key(entry, str(kty))
    checks = MappingProxyType({alg: signature_check(public_key, alg) for alg in sorted(algorithms)})
    return VerificationKey(kid, checks, public_key, dict(entry))


def _public_key(entry: dict[str, Any], kty: str) -> PublicKey:
    members = {k: v for k, v in entry.items() if k in ("kty", "crv", "n", "e", "x", "y")}
    # joserfc warns about weak keys; this function refuses them instead, so its warning is noise
    # (and under `-W error` it would escape as an exception).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _import_public_key(members, kty)


def _import_public_key(members: dict[str, Any], kty: str) -> PublicKey:
    try:
        if kty == "RSA":
            rsa_key = RSAKey.import_key(members).public_key
            if not isinstance(rsa_key, rsa.RSAPublicKey) or rsa_key.key_size < _MIN_RSA_BITS:
                raise ValueError(f"RSA key smaller than {_MIN_RSA_BITS} bits")
            return rsa_key
        if kty == "EC":
            ec_key = ECKey.import_key(members).public_key
            if not isinstance(ec_key, ec.EllipticCurvePublicKey):
                raise ValueError("not an EC public key")
            return ec_key
        okp_key = OKPKey.import_key(members).public_key
        if not isinstance(okp_key, ed25519.Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return okp_key
    except (JoseError, TypeError, KeyError) as exc:
        raise ValueError(f"invalid {kty} key: {exc}") from exc


_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_EC_SIZES = {"ES256": 32, "ES384": 48, "ES512": 66}


def signature_check(public_key: PublicKey, alg: str) -> SignatureCheck:
    """The check of `alg` signatures with `public_key`, with padding and hash built once.

    Raises:
        ValueError: `alg` does not fit the key's type.
    """
    if isinstance(public_key, rsa.RSAPublicKey) and alg[:2] in ("RS", "PS"):
        digest = _HASHES[alg[2:]]()
        # RFC 7518 §3.5: for PS*, the salt is as long as the hash output.
        scheme: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            if alg.startswith("PS")
            else padding.PKCS1v15()
        )
        rsa_verify = public_key.verify

        def check_rsa(signature: bytes, data: bytes) -> None:
            rsa_verify(signature, data, scheme, digest)

        return check_rsa
    if isinstance(public_key, ec.EllipticCurvePublicKey) and alg in _EC_SIZES:
        size, ecdsa, ec_verify = _EC_SIZES[alg], ec.ECDSA(_HASHES[alg[2:]]()), public_key.verify

        def check_ec(signature: bytes, data: bytes) -> None:
            ec_verify(_der_signature(signature, size), data, ecdsa)

        return check_ec
    if isinstance(public_key, ed25519.Ed25519PublicKey) and alg == "EdDSA":
        return public_key.verify
    raise ValueError(f"{alg} does not fit a {type(public_key).__name__}")


def _der_signature(raw: bytes, size: int) -> bytes:
    """JWS ECDSA signatures are `r || s` of fixed size (RFC 7518 §3.4); cryptography wants DER."""
    if len(raw) != 2 * size:
        raise InvalidSignature
    r, s = int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
    if r == 0 or s == 0:
        raise InvalidSignature
    return encode_dss_signature(r, s)
