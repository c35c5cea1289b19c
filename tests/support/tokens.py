"""Signing keys and token builders for tests: real keys, real signatures, Keycloak-shaped claims.

Tokens are assembled by hand (not with the library under test) so that tests can also build
the malformed, tampered and hostile tokens that no JOSE library would produce.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

REALM = "demo"
PUBLIC_URL = "https://auth.example.test"
INTERNAL_URL = "http://keycloak.internal:8080"
ISSUER = f"{PUBLIC_URL}/realms/{REALM}"
AUDIENCE = "api"

_EC_CURVES: dict[str, tuple[ec.EllipticCurve, hashes.HashAlgorithm, int, str]] = {
    "ES256": (ec.SECP256R1(), hashes.SHA256(), 32, "P-256"),
    "ES384": (ec.SECP384R1(), hashes.SHA384(), 48, "P-384"),
    "ES512": (ec.SECP521R1(), hashes.SHA512(), 66, "P-521"),
}
_RSA_HASHES: dict[str, hashes.HashAlgorithm] = {
    "RS256": hashes.SHA256(),
    "RS384": hashes.SHA384(),
    "RS512": hashes.SHA512(),
    "PS256": hashes.SHA256(),
    "PS384": hashes.SHA384(),
    "PS512": hashes.SHA512(),
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64(n: int, length: int | None = None) -> str:
    return b64url(n.to_bytes(length or (n.bit_length() + 7) // 8, "big"))


@dataclass
class SigningKey:
    """A private key as Keycloak holds it; `jwk()` is what the realm publishes."""

    kid: str
    private: Any
    alg: str = "RS256"

    @classmethod
    def rsa(cls, kid: str | None = None, alg: str = "RS256", bits: int = 2048) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        return cls(kid or uuid.uuid4().hex, key, alg)

    @classmethod
    def ec(cls, kid: str | None = None, alg: str = "ES256") -> SigningKey:
        return cls(kid or uuid.uuid4().hex, ec.generate_private_key(_EC_CURVES[alg][0]), alg)

    @classmethod
    def ed25519(cls, kid: str | None = None) -> SigningKey:
        return cls(kid or uuid.uuid4().hex, ed25519.Ed25519PrivateKey.generate(), "EdDSA")

    def jwk(self, **extra: Any) -> dict[str, Any]:
        public = self.private.public_key()
        if self.alg in _RSA_HASHES:
            nums = public.public_numbers()
            jwk = {"kty": "RSA", "n": _int_b64(nums.n), "e": _int_b64(nums.e)}
        elif self.alg in _EC_CURVES:
            _, _, size, crv = _EC_CURVES[self.alg]
            nums = public.public_numbers()
            jwk = {"kty": "EC", "crv": crv, "x": _int_b64(nums.x, size), "y": _int_b64(nums.y, size)}
        else:
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
        jwk = {"kid": self.kid, "alg": self.alg, "use": "sig", **jwk}
        jwk.update(extra)
        return {k: v for k, v in jwk.items() if v is not None}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, signing_input: bytes) -> bytes:
        if self.alg.startswith("RS"):
            return self.private.sign(signing_input, padding.PKCS1v15(), _RSA_HASHES[self.alg])
        if self.alg.startswith("PS"):
            digest = _RSA_HASHES[self.alg]
            pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            return self.private.sign(signing_input, pss, digest)
        if self.alg in _EC_CURVES:
            _, digest, size, _ = _EC_CURVES[self.alg]
            r, s = decode_dss_signature(self.private.sign(signing_input, ec.ECDSA(digest)))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        return self.private.sign(signing_input)


def encode_segments(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """The signing input `b64(header).b64(claims)`, JSON compact as Keycloak writes it."""
    head = b64url(json.dumps(header, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    return f"{head}.{body}"


def mint(claims: dict[str, Any], key: SigningKey, header: dict[str, Any] | None = None) -> str:
    """A compact JWS signed by `key`; `header` entries override or extend the default header."""
    head: dict[str, Any] = {"alg": key.alg, "typ": "JWT", "kid": key.kid}
    head.update(header or {})
    head = {k: v for k, v in head.items() if v is not None}
    signing_input = encode_segments(head, claims)
    return f"{signing_input}.{b64url(key.sign(signing_input.encode()))}"


def user_claims(**overrides: Any) -> dict[str, Any]:
    """An access token as Keycloak 26 issues it to mario, logged in through the public client `web`.

    An override of None removes the claim.
    """
    now = int(time.time())
    claims: dict[str, Any] = {
        "exp": now + 300,
        "iat": now,
        "auth_time": now,
        "jti": str(uuid.uuid4()),
        "iss": ISSUER,
        "aud": [AUDIENCE, "account"],
        "sub": "0b5c6e1a-user-mario",
        "typ": "Bearer",
        "azp": "web",
        "sid": str(uuid.uuid4()),
        "acr": "1",
        "realm_access": {"roles": ["default-roles-demo", "offline_access", "customer"]},
        "resource_access": {AUDIENCE: {"roles": ["orders:read"]}, "account": {"roles": ["manage-account"]}},
        "scope": "openid profile email",
        "email_verified": True,
        "name": "Mario Rossi",
        "preferred_username": "mario",
        "given_name": "Mario",
        "family_name": "Rossi",
        "email": "mario@example.test",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def service_claims(client_id: str = "shop-api", **overrides: Any) -> dict[str, Any]:
    """An access token as Keycloak 26 issues it for a client-credentials grant of `client_id`."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "iss": ISSUER,
        "aud": [AUDIENCE],
        "sub": f"0b5c6e1a-sa-{client_id}",
        "typ": "Bearer",
        "azp": client_id,
        "acr": "1",
        "realm_access": {"roles": ["default-roles-demo"]},
        "resource_access": {AUDIENCE: {"roles": ["notifications:send"]}},
        "scope": "profile email",
        "clientHost": "127.0.0.1",
        "email_verified": False,
        "preferred_username": f"service-account-{client_id}",
        "clientAddress": "127.0.0.1",
        "client_id": client_id,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}
