"""Scenarios 1-2: one token verification, ours against the cryptographic floor and the peers.

Every verifier does the same checks (RS256 signature with the realm key, issuer, audience
``api`` among ``["api", "account"]``, expiry), with the key loaded before timing starts.
``check_all`` proves it on bad tokens before anything is timed.
"""

from __future__ import annotations

import base64
import json
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from benchmarks import common, ours


@dataclass
class Verifier:
    name: str
    label: str
    verify: Callable[[str], Any] | None = None  # sync
    averify: Callable[[str], Awaitable[Any]] | None = None  # async
    checks_claims: bool = True  # the floor and the RSA operation check the signature only


def _b64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def floor_verifiers() -> list[Verifier]:
    pub = common.private_key().public_key()
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()

    def floor(token: str) -> Any:
        signing_input, _, signature = token.rpartition(".")
        pub.verify(_b64(signature), signing_input.encode("ascii"), pkcs1, sha256)
        return json.loads(_b64(signing_input.partition(".")[2]))

    presplit: dict[str, tuple[bytes, bytes]] = {}

    def rsa_only(token: str) -> Any:
        signature, signing_input = presplit[token]
        pub.verify(signature, signing_input, pkcs1, sha256)

    def rsa_prepare(token: str) -> None:
        signing_input, _, signature = token.rpartition(".")
        presplit[token] = (_b64(signature), signing_input.encode("ascii"))

    # The floor again, with the primitives fastapi_kc decodes with (pydantic-core's base64 and
    # JSON, in Rust) instead of the standard library's: how much of ours' margin is theirs.
    from pydantic_core import SchemaValidator, core_schema, from_json

    rust_b64 = SchemaValidator(
        core_schema.bytes_schema(), config=core_schema.CoreConfig(val_json_bytes="base64")
    ).validate_json

    def floor_pydantic_core(token: str) -> Any:
        signing_input, _, signature = token.rpartition(".")
        pub.verify(rust_b64(f'"{signature}"'), signing_input.encode("ascii"), pkcs1, sha256)
        return from_json(rust_b64(f'"{signing_input.partition(".")[2]}"'))

    rsa = Verifier("rsa", "RSA operation alone", rsa_only, checks_claims=False)
    rsa.prepare = rsa_prepare  # type: ignore[attr-defined]
    return [
        Verifier("floor", "floor: cryptography RS256 + b64/JSON", floor, checks_claims=False),
        Verifier(
            "floor_pydantic_core",
            "floor, decoding with pydantic-core (base64, JSON) as ours does",
            floor_pydantic_core,
            checks_claims=False,
        ),
        rsa,
    ]


def peer_verifiers() -> list[Verifier]:
    jwk_dict = common.public_jwk()
    pub = common.private_key().public_key()
    out: list[Verifier] = []

    import jwt as pyjwt

    def pyjwt_verify(token: str) -> Any:
        return pyjwt.decode(
            token,
            key=pub,
            algorithms=["RS256"],
            audience=common.AUDIENCE,
            issuer=common.ISSUER,
            options={"require": ["exp", "iss", "aud"]},
        )

    out.append(Verifier("pyjwt", f"PyJWT {pyjwt.__version__}", pyjwt_verify))

    import joserfc
    from joserfc import jwt as jrfc_jwt
    from joserfc.jwk import RSAKey

    jrfc_key = RSAKey.import_key(jwk_dict)
    registry = jrfc_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": common.ISSUER},
        aud={"essential": True, "value": common.AUDIENCE},
        exp={"essential": True},
    )

    def joserfc_verify(token: str) -> Any:
        tok = jrfc_jwt.decode(token, jrfc_key, algorithms=["RS256"])
        registry.validate(tok.claims)
        return tok.claims

    out.append(Verifier("joserfc", f"joserfc {_version('joserfc', joserfc)}", joserfc_verify))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from authlib.jose import JsonWebKey, JsonWebToken

    import authlib

    alj = JsonWebToken(["RS256"])
    al_key = JsonWebKey.import_key(jwk_dict)
    al_opts = {
        "iss": {"essential": True, "value": common.ISSUER},
        "aud": {"essential": True, "value": common.AUDIENCE},
        "exp": {"essential": True},
    }

    def authlib_verify(token: str) -> Any:
        claims = alj.decode(token, al_key, claims_options=al_opts)
        claims.validate()
        return claims

    out.append(Verifier("authlib", f"authlib.jose {authlib.__version__} (deprecated)", authlib_verify))

    from jose import jwk as jose_jwk
    from jose import jwt as jose_jwt

    jose_key = jose_jwk.construct(jwk_dict, "RS256")

    def jose_verify(token: str) -> Any:
        return jose_jwt.decode(token, jose_key, algorithms=["RS256"], audience=common.AUDIENCE, issuer=common.ISSUER)

    out.append(Verifier("python_jose", f"python-jose {_version('python-jose')}", jose_verify))

    from jwcrypto import jwk as jc_jwk
    from jwcrypto import jwt as jc_jwt

    jc_key = jc_jwk.JWK(**jwk_dict)
    jc_checks = {"iss": common.ISSUER, "aud": common.AUDIENCE, "exp": None}

    def jwcrypto_verify(token: str) -> Any:
        tok = jc_jwt.JWT(jwt=token, key=jc_key, algs=["RS256"], check_claims=jc_checks)
        return json.loads(tok.claims)

    out.append(Verifier("jwcrypto", f"jwcrypto {_version('jwcrypto')}", jwcrypto_verify))

    from keycloak import KeycloakOpenID

    kc = KeycloakOpenID(server_url="http://127.0.0.1:9", realm_name=common.REALM, client_id=common.CLIENT_ID)
    kc_key = jc_jwk.JWKSet()
    kc_key.add(jc_jwk.JWK(**jwk_dict))

    def keycloak_verify(token: str) -> Any:
        return kc.decode_token(token, validate=True, key=kc_key, check_claims=dict(jc_checks))

    out.append(
        Verifier("python_keycloak", f"python-keycloak {_version('python-keycloak')} decode_token", keycloak_verify)
    )
    return out


def _version(dist: str, module: Any = None) -> str:
    from importlib.metadata import version

    try:
        return version(dist)
    except Exception:
        return str(getattr(module, "__version__", "?"))


async def ours_verifier(fake_client: Any) -> tuple[Verifier, Any]:
    """Our ``await auth.verify(token)``, started against the in-process fake Keycloak."""
    auth = await ours.start_auth(fake_client)
    return Verifier("ours", f"fastapi_kc {ours.version()} verify", averify=auth.verify), auth


def bad_tokens() -> dict[str, str]:
    """Tokens every verifier must refuse, one per check."""
    key = common.private_key()
    now = int(time.time())
    good = common.claims(999_999, now)
    wrong_aud = dict(good, aud=["account"])
    wrong_iss = dict(good, iss="http://evil.example.test/realms/demo")
    expired = dict(good, exp=now - 3600, iat=now - 7200)
    token = common.sign(good, key)
    head, _payload, sig = token.split(".")
    tampered = ".".join([head, common.b64url(json.dumps(dict(good, sub="mallory")).encode()), sig])
    return {
        "wrong audience": common.sign(wrong_aud, key),
        "wrong issuer": common.sign(wrong_iss, key),
        "expired": common.sign(expired, key),
        "bad signature": tampered,
    }


async def check(v: Verifier, good: str, bad: dict[str, str]) -> list[str]:
    """Return the problems found: a good token refused, or a bad one accepted."""
    problems = []

    async def run(token: str) -> bool:
        try:
            if getattr(v, "prepare", None):
                v.prepare(token)  # type: ignore[attr-defined]
            if v.averify is not None:
                await v.averify(token)
            else:
                assert v.verify is not None
                v.verify(token)
        except Exception:
            return False
        return True

    if not await run(good):
        problems.append("refuses a valid token")
    for what, token in bad.items():
        if not v.checks_claims and what != "bad signature":
            continue
        if await run(token):
            problems.append(f"accepts a token with {what}")
    return problems
