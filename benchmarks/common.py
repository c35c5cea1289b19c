"""Shared fixtures of the benchmark suite: the realm's RSA key, Keycloak-shaped tokens, settings.

Signing an RS256 token costs about 0.5 ms (the private-key operation), so the pool of
distinct tokens (100,000, enough for the memory scenario) is generated once, in
parallel, and cached under ``.cache/bench/`` (git-ignored) with the key that signed it.
The pool is regenerated when its tokens are less than a day from expiry.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"

PUBLIC_URL = "http://public.example.test"
REALM = "demo"
AUDIENCE = "api"
CLIENT_ID = "shop-api"
CLIENT_SECRET = "s3cret"
ISSUER = f"{PUBLIC_URL}/realms/{REALM}"
KID = "bench-rs256-key"

POOL_SIZE = 100_000
POOL_LIFETIME = 7 * 24 * 3600  # tokens of the cached pool stay valid a week
POOL_MIN_REMAINING = 24 * 3600
POOL_FORMAT = 1  # bump when claims() or sign() change, to regenerate cached pools

_PEM = CACHE / "realm-key.pem"
_POOL = CACHE / "tokens.txt"
_POOL_META = CACHE / "tokens.json"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(data: str | bytes) -> bytes:
    if isinstance(data, str):
        data = data.encode("ascii")
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))


def private_key() -> rsa.RSAPrivateKey:
    """The realm's signing key (RSA-2048, like Keycloak's default), cached on disk."""
    CACHE.mkdir(parents=True, exist_ok=True)
    if not _PEM.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        tmp = _PEM.with_suffix(".tmp")
        tmp.write_bytes(pem)
        tmp.replace(_PEM)
    loaded = serialization.load_pem_private_key(_PEM.read_bytes(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    return loaded


def public_jwk(key: rsa.RSAPrivateKey | None = None, kid: str = KID) -> dict[str, Any]:
    """The public key as Keycloak's certs endpoint serves it (without the x5c chain)."""
    numbers = (key or private_key()).public_key().public_numbers()
    return {
        "kid": kid,
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
    }


def jwks() -> dict[str, Any]:
    return {"keys": [public_jwk()]}


def public_key_b64_der() -> str:
    """The realm page's ``public_key``: base64 DER SubjectPublicKeyInfo."""
    der = (
        private_key()
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(der).decode("ascii")


def claims(i: int, now: int, lifetime: int = 300) -> dict[str, Any]:
    """Claims shaped like a Keycloak 26 user access token; ``i`` makes them distinct."""
    sub = str(uuid.UUID(int=(0x5EED << 96) | i))
    return {
        "exp": now + lifetime,
        "iat": now - 1,
        "auth_time": now - 30,
        "jti": f"onrtac:{uuid.UUID(int=(0xBEEF << 96) | i)}",
        "iss": ISSUER,
        "aud": [AUDIENCE, "account"],
        "sub": sub,
        "typ": "Bearer",
        "azp": "web",
        "sid": str(uuid.UUID(int=(0x51D << 96) | i)),
        "acr": "1",
        "allowed-origins": ["http://localhost:3000"],
        "realm_access": {"roles": ["default-roles-demo", "offline_access", "uma_authorization", "user"]},
        "resource_access": {
            "api": {"roles": ["reader"]},
            "account": {"roles": ["manage-account", "manage-account-links", "view-profile"]},
        },
        "scope": "openid profile email",
        "email_verified": True,
        "name": "Alice Liddell",
        "preferred_username": f"alice{i}",
        "given_name": "Alice",
        "family_name": "Liddell",
        "email": f"alice{i}@example.com",
    }


def sign(payload: dict[str, Any], key: rsa.RSAPrivateKey, kid: str = KID) -> str:
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(payload, separators=(",", ":")).encode())
    )
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url(signature)


def unsigned_with_kid(payload: dict[str, Any], kid: str) -> str:
    """A well-formed RS256 token naming ``kid``, with a random (invalid) signature."""
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    return (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(payload, separators=(",", ":")).encode())
        + "."
        + b64url(os.urandom(256))
    )


def _key_fingerprint() -> str:
    return hashlib.sha256(public_key_b64_der().encode()).hexdigest()[:16]


def _sign_range(args: tuple[int, int, int]) -> list[str]:
    start, stop, now = args
    key = private_key()
    return [sign(claims(i, now, POOL_LIFETIME), key) for i in range(start, stop)]


def ensure_pool(size: int = POOL_SIZE) -> None:
    """Make sure the cached pool holds ``size`` distinct tokens valid for at least a day."""
    now = int(time.time())
    if _POOL_META.exists() and _POOL.exists():
        meta = json.loads(_POOL_META.read_text())
        fresh = (
            meta.get("exp", 0) - now > POOL_MIN_REMAINING
            and meta.get("format") == POOL_FORMAT
            and meta.get("key") == _key_fingerprint()
        )
        if meta.get("size", 0) >= size and fresh:
            return
    private_key()
    print(f"   generating {size:,} signed tokens (RS256, once; cached in {_POOL.relative_to(ROOT)})")
    t0 = time.perf_counter()
    chunk = 2_000
    jobs = [(s, min(s + chunk, size), now) for s in range(0, size, chunk)]
    tmp = _POOL.with_suffix(".tmp")
    with ProcessPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1))) as pool, tmp.open("w") as out:
        for tokens in pool.map(_sign_range, jobs):
            out.write("\n".join(tokens) + "\n")
    tmp.replace(_POOL)
    meta = {"size": size, "exp": now + POOL_LIFETIME, "kid": KID, "format": POOL_FORMAT, "key": _key_fingerprint()}
    _POOL_META.write_text(json.dumps(meta))
    print(f"   done in {time.perf_counter() - t0:.0f} s")


def iter_tokens(start: int = 0, stop: int | None = None) -> Iterator[str]:
    """Stream tokens of the pool (without holding the file in memory)."""
    with _POOL.open() as f:
        for line in itertools.islice(f, start, stop):
            yield line.rstrip("\n")


def tokens(start: int, count: int) -> list[str]:
    return list(iter_tokens(start, start + count))


def pool_path() -> Path:
    return _POOL


def settings_kwargs(internal_url: str, **overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "public_url": PUBLIC_URL,
        "internal_url": internal_url,
        "realm": REALM,
        "audience": AUDIENCE,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    kwargs.update(overrides)
    return kwargs
