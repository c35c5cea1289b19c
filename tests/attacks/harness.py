"""One started `KeycloakAuth` and the two HTTP faces over it, driven from sync tests.

A `Target` keeps its own event loop (`asyncio.Runner`) for the life of a test module, so the
attack catalogue and the fuzzers pay the start-up once and then verify thousands of tokens.
Each token is judged through three doors that must agree:

- `auth.verify(token)`: a `Principal`, or an `AuthError`; any other exception fails the test;
- a FastAPI app using the dependencies (`auth.principal`, `auth.require_roles`);
- a FastAPI app behind `KeycloakMiddleware`.

The apps are called as raw ASGI (no sockets, no threads): exactly the bytes a server would pass,
including header bytes that an HTTP client library refuses to send. An exception escaping an
app fails the test; so does any status of 500 or above.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from fastapi_kc import AuthError, KeycloakAuth, KeycloakMiddleware, KeycloakSettings, Principal
from fastapi_kc._bearer import bearer_token
from tests.attacks.differential import COMPARED, INTENDED_SEEN, Differential
from tests.support.fake_keycloak import FakeKeycloak, settings_values
from tests.support.tokens import AUDIENCE, REALM, SigningKey, b64url

PUBLIC_PATHS = ("/health",)
PATHS = ("/me", "/admin", "/orders")  # identity only, a realm role, a client role


def build_settings(**overrides: Any) -> KeycloakSettings:
    """Settings from arguments only: the developer's own KEYCLOAK_* variables are kept out."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("KEYCLOAK_"):
                patch.delenv(name)
        return KeycloakSettings(**settings_values(**overrides))


def dependency_app(auth: KeycloakAuth) -> FastAPI:
    """Routes protected by the FastAPI dependencies."""
    app = FastAPI(lifespan=auth.lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/me")
    async def me(principal: Principal = Depends(auth.principal)) -> dict[str, Any]:
        return {"sub": principal.subject}

    _add_role_routes(app, auth)
    return app


def middleware_app(auth: KeycloakAuth) -> FastAPI:
    """The same routes behind `KeycloakMiddleware`; the role routes reuse its Principal."""
    app = FastAPI()
    app.add_middleware(KeycloakMiddleware, auth=auth, public_paths=list(PUBLIC_PATHS))

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/me")
    async def me(request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.user.subject})

    _add_role_routes(app, auth)
    return app


def _add_role_routes(app: FastAPI, auth: KeycloakAuth) -> None:
    """A realm role and a client role, by dependency: the same in both apps."""

    @app.get("/admin")
    async def admin(principal: Principal = Depends(auth.require_roles("admin"))) -> dict[str, Any]:
        return {"sub": principal.subject}

    @app.get("/orders")
    async def orders(principal: Principal = Depends(auth.require_roles("orders:read", client=AUDIENCE))) -> Any:
        return {"sub": principal.subject}


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Headers = Sequence[tuple[bytes, bytes]]


async def asgi_get(app: Any, path: str, headers: Headers) -> Reply:
    """One GET through an ASGI app, as a server would deliver it (`path` may carry a query)."""
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("latin-1", "replace"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    names = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start.get("headers", [])}
    return Reply(start["status"], names, body)


def bearer(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {token}".encode("utf-8", "surrogateescape"))]


class Target:
    """A started `KeycloakAuth` over a `FakeKeycloak`, with its event loop and both HTTP faces."""

    def __init__(self, keys: Iterable[SigningKey], **overrides: Any) -> None:
        self.fake = FakeKeycloak(keys=list(keys))
        self.settings = build_settings(**overrides)
        self.runner = asyncio.Runner()
        self._client = self.fake.client()
        self._judging_at: float | None = None  # the instant both verifiers see while judging one token
        self.judged_at = 0.0  # that instant, for the last token judged (a whole second)
        self.auth = KeycloakAuth(self.settings, http_client=self._client, clock=self._clock)
        self.runner.run(self.auth.start())
        self.apps = {"dependency": dependency_app(self.auth), "middleware": middleware_app(self.auth)}
        self.verified = 0  # tokens judged, for the fuzzers' honest counts
        # Every token judged is judged by joserfc too (issue 10, item 11; see differential.py).
        self.differential = Differential(self.settings, self.fake.jwks)
        self._compared_over_http: set[str] = set()

    def _clock(self) -> float:
        return time.time() if self._judging_at is None else self._judging_at

    def close(self) -> None:
        # Every token judged was judged by joserfc too; the session summary prints the counts.
        assert self.differential.compared == self.verified, (self.differential.compared, self.verified)
        module = os.environ.get("PYTEST_CURRENT_TEST", "?").split("::")[0]
        COMPARED[module] += self.differential.compared
        INTENDED_SEEN.update(self.differential.intended)
        self.runner.run(self.auth.close())
        self.runner.run(self._client.aclose())
        self.runner.close()

    # --- the three doors -----------------------------------------------------------------------

    def outcome(self, token: Any, *, at: float | None = None) -> Principal | AuthError:
        """`verify(token)`: the Principal or the AuthError; any other exception propagates.

        joserfc judges the same token at the same instant, and must agree (`Differential.compare`).
        `at` holds the clock at that instant instead of the current whole second.
        """
        self.verified += 1

        async def judge() -> Principal | AuthError:
            try:
                return await self.auth.verify(token)
            except AuthError as exc:
                return exc

        # A whole second: tests that draw times around an integer `now` get the same verdicts on a
        # fast and on a loaded machine.
        self._judging_at = self.judged_at = now = float(int(time.time())) if at is None else at
        try:
            result = self.runner.run(judge())
        finally:
            self._judging_at = None
        self.differential.compare(token, result, now)
        return result

    def get(self, path: str, headers: Headers, *, app: str = "dependency") -> Reply:
        try:
            token: str | None = bearer_token(headers)
        except AuthError:
            token = None
        if token is not None and token not in self._compared_over_http:
            # The token the app will verify gets joserfc's verdict too (once): the HTTP fuzzers'
            # mutated bearer tokens join the differential check.
            self._compared_over_http.add(token)
            self.outcome(token)
        reply = self.runner.run(asgi_get(self.apps[app], path, headers))
        assert reply.status < 500, f"{app} {path} answered {reply.status}: {reply.body[:200]!r}"
        return reply

    # --- verdicts --------------------------------------------------------------------------------

    def refused(self, token: str, *, status: int = 401) -> AuthError:
        """`token` is refused with `status` by verify() and by both apps on every protected path."""
        result = self.outcome(token)
        assert isinstance(result, AuthError), f"accepted: {result!r}"
        assert result.status_code == status, repr(result)
        self.refused_over_http(bearer(token), status=status)
        return result

    def refused_over_http(self, headers: Headers, *, status: int = 401) -> None:
        for name in self.apps:
            for path in PATHS:
                reply = self.get(path, headers, app=name)
                assert reply.status == status, (name, path, reply.status, reply.body[:200])
                challenge = reply.headers.get("www-authenticate", "")
                assert challenge.startswith(f'Bearer realm="{REALM}"'), (name, path, challenge)

    def accepted(self, token: str) -> Principal:
        """`token` gives a Principal, and `/me` answers 200 through both apps."""
        result = self.outcome(token)
        assert isinstance(result, Principal), f"refused: {result!r}"
        for name in self.apps:
            reply = self.get("/me", bearer(token), app=name)
            assert reply.status == 200, (name, reply.status, reply.body[:200])
            assert reply.json() == {"sub": result.subject}
        return result

    def status_of(self, path: str, token: str, *, app: str = "dependency") -> int:
        return self.get(path, bearer(token), app=app).status

    def requests_since(self, mark: int) -> list[str]:
        """`METHOD url` of each request the fake Keycloak received after `mark` requests."""
        return [f"{r.method} {r.url}" for r in self.fake.requests[mark:]]


# --- token building beyond tests.support.tokens: raw bytes, other signatures -----------------------


def _json_bytes(value: bytes | dict[str, Any]) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()


def signed_raw(header: bytes | dict[str, Any], payload: bytes | dict[str, Any], key: SigningKey) -> str:
    """A compact JWS over exactly these header and payload bytes, really signed by `key`."""
    signing_input = f"{b64url(_json_bytes(header))}.{b64url(_json_bytes(payload))}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode()))}"


def with_signature(header: bytes | dict[str, Any], payload: bytes | dict[str, Any], signature: bytes) -> str:
    """A compact JWS carrying `signature` as given (forged, empty, borrowed)."""
    return f"{b64url(_json_bytes(header))}.{b64url(_json_bytes(payload))}.{b64url(signature)}"


def realm_header(key: SigningKey, **extra: Any) -> dict[str, Any]:
    """The header Keycloak writes for `key`; `extra` adds or (with None) removes entries."""
    header: dict[str, Any] = {"alg": key.alg, "typ": "JWT", "kid": key.kid}
    header.update(extra)
    return {k: v for k, v in header.items() if v is not None}
