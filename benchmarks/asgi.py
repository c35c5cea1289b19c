"""Scenario 3's apps and a bare ASGI driver.

The driver calls the ASGI app directly with a hand-built scope, ``receive`` and ``send``:
``httpx.ASGITransport`` adds about 500 us per request, which would hide every difference
between the variants. Every variant serves the same endpoint (``GET /items`` returning
``{"ok": true}``) to the same request (with its ``Authorization`` header, also for the bare
endpoint, so header handling costs the same everywhere).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, FastAPI

from benchmarks import common, ours

ASGIApp = Callable[..., Awaitable[None]]

# Variants measured in process only: the uvicorn scenario keeps to the forms its targets name.
IN_PROCESS_ONLY = frozenset({"floor_mw", "floor_dep", "ours_roles", "ours_deco"})
# A second process serving the bare endpoint: under a real server, what two identical apps
# measure against each other is the noise every other ratio carries.
UVICORN_ONLY = frozenset({"bare_again"})

# Issue 16 item 7: each feature added since, against the same request without it (scenario 3c).
FEATURES = {
    "ours_mw": "KeycloakMiddleware (no revocations, no metrics)",
    "feat_rev_memory": "+ revocation check, memory store (2,000 revocations of others)",
    "feat_rev_redis": "+ revocation check, Redis store (2,000 revocations of others)",
    "feat_metrics": "+ PrometheusMetrics",
    "ours_dep": "Depends(auth.principal)",
    "feat_introspect": "Depends(auth.require_active()): introspection cache hit",
}
FEATURE_BASE = {
    "feat_rev_memory": "ours_mw", "feat_rev_redis": "ours_mw", "feat_metrics": "ours_mw", "feat_introspect": "ours_dep",
}  # fmt: skip
REVOKED_OTHERS = 1000  # sessions, and as many subjects, of other users
ROLE = "user"  # a realm role every benchmark token holds (common.claims)

# name -> label; the order is the table's order
VARIANTS = {
    "bare": "bare endpoint (no auth)",
    "bare_again": "bare endpoint again, another process (the noise: ideally 1.00)",
    "floor_mw": "floor in a minimal ASGI middleware",
    "floor_dep": "floor: HTTPBearer dependency + dict of verified tokens",
    "noop_dep": "framework: one dependency that does nothing (FastAPI's own cost)",
    "ours_dep": "fastapi_kc: Depends(auth.principal)",
    "ours_roles": "fastapi_kc: Depends(auth.require_roles(...))",
    "ours_deco": "fastapi_kc: @auth.roles_required(...)",
    "ours_mw": "fastapi_kc: KeycloakMiddleware",
    "ours_mw_dep": "fastapi_kc: middleware + auth.principal",
    "fkm": "fastapi-keycloak-middleware",
}


def scope_for(token: str | None, path: str = "/items") -> dict[str, Any]:
    headers = [(b"host", b"bench.local"), (b"user-agent", b"bench"), (b"accept", b"*/*")]
    if token is not None:
        headers.append((b"authorization", b"Bearer " + token.encode("ascii")))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


_REQUEST = {"type": "http.request", "body": b"", "more_body": False}


async def _receive() -> dict[str, Any]:
    return _REQUEST


class Recorder:
    __slots__ = ("status",)

    def __init__(self) -> None:
        self.status = 0

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]


async def request(app: ASGIApp, token: str | None, path: str = "/items") -> int:
    """One request through the app; returns the response status."""
    rec = Recorder()
    await app(scope_for(token, path), _receive, rec)
    return rec.status


async def timed_requests(app: ASGIApp, tokens: list[str]) -> tuple[float, list[int]]:
    """Send one request per token, one after the other; (seconds, distinct statuses)."""
    loop_time = asyncio.get_running_loop().time
    statuses: set[int] = set()
    rec = Recorder()
    t0 = loop_time()
    for token in tokens:
        await app(scope_for(token), _receive, rec)
        statuses.add(rec.status)
    return loop_time() - t0, sorted(statuses)


class Lifespan:
    """Run an ASGI app's lifespan (startup on enter, shutdown on exit)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Lifespan:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._task = asyncio.create_task(self.app(scope, self._inbox.get, self._outbox.put))
        await self._inbox.put({"type": "lifespan.startup"})
        msg = await self._outbox.get()
        if msg["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"lifespan startup failed: {msg}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._inbox.put({"type": "lifespan.shutdown"})
        await self._outbox.get()
        if self._task is not None:
            await self._task


def _endpoint(app: FastAPI, dependency: Any = None) -> None:
    if dependency is None:

        @app.get("/items")
        async def items() -> dict[str, bool]:
            return {"ok": True}

    else:

        @app.get("/items")
        async def items_auth(principal: Any = Depends(dependency)) -> dict[str, bool]:
            return {"ok": True}

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}


def floor_dependency() -> Callable[..., Awaitable[Any]]:
    """The dependency form's floor: FastAPI's own `HTTPBearer` and a dict of verified tokens.

    A token seen before costs one dict lookup; a new one the cryptographic floor (RS256 +
    base64/JSON, no claim checks). Two dependency levels, as anyone writing their own
    `Depends` on `HTTPBearer` has; nothing less declares a bearer scheme in OpenAPI.
    """
    from fastapi import HTTPException
    from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

    from benchmarks.verifiers import floor_verifiers

    floor = floor_verifiers()[0].verify
    verified: dict[str, Any] = {}
    bearer = HTTPBearer()

    async def caller(credentials: HTTPAuthorizationCredentials = Depends(bearer)) -> Any:
        token = credentials.credentials
        claims = verified.get(token)
        if claims is None:
            try:
                claims = verified[token] = floor(token)
            except Exception:
                raise HTTPException(401) from None
        return claims

    return caller


async def nothing() -> None:
    """What FastAPI costs for one dependency, whatever it does: the part of `Depends(...)` no library can save."""


def _decorated_endpoint(app: FastAPI, auth: Any) -> None:
    @app.get("/items")
    @auth.roles_required(ROLE)
    async def items_decorated() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}


def dependency_levels(app: FastAPI, path: str = "/items") -> int:
    """How deep FastAPI's dependency tree under the route's endpoint goes (0: no dependency)."""
    from fastapi.routing import APIRoute

    def depth(dependant: Any) -> int:
        return 1 + max((depth(sub) for sub in dependant.dependencies), default=0)

    route = next(r for r in app.routes if isinstance(r, APIRoute) and r.path == path)
    return depth(route.dependant) - 1


def dependency_nodes(app: FastAPI, path: str = "/items") -> int:
    """How many dependencies FastAPI solves per request for the route (every node of the tree)."""
    from fastapi.routing import APIRoute

    def count(dependant: Any) -> int:
        return sum(1 + count(sub) for sub in dependant.dependencies)

    route = next(r for r in app.routes if isinstance(r, APIRoute) and r.path == path)
    return count(route.dependant)


class FloorMiddleware:
    """The framework's floor: the cryptographic floor (RS256 + base64/JSON) in the least middleware.

    No claim checks, no errors beyond a bare 401: what any validator in a middleware must at
    least pay, cold caches included, to compare ``fastapi_kc``'s middleware with.
    """

    def __init__(self, app: ASGIApp) -> None:
        from benchmarks.verifiers import floor_verifiers

        self.app = app
        self.floor = floor_verifiers()[0].verify

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] != "/health":
            claims = None
            for name, value in scope["headers"]:
                if name == b"authorization" and value[:7] == b"Bearer ":
                    try:
                        claims = self.floor(value[7:].decode("ascii"))
                    except Exception:
                        claims = None
            if claims is None:
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
            scope["user"] = claims
        await self.app(scope, receive, send)


def revoke_others(auth: Any) -> None:
    """Fill the auth's revocation list with ended sessions and subjects of other users."""
    import time

    from fastapi_kc._revocations import Revocation

    now = time.time()
    for i in range(REVOKED_OTHERS):
        auth.revocations.apply(Revocation("sid", f"other-session-{i}", now, now + 3600))
        auth.revocations.apply(Revocation("sub", f"other-user-{i}", now, now + 3600))


def build_feature_app(
    variant: str, internal_url: str, http_client: Any = None, redis_url: str | None = None
) -> FastAPI:
    """Scenario 3c: KeycloakMiddleware or Depends(auth.principal) with one feature turned on."""
    from contextlib import asynccontextmanager

    from fastapi_kc import KeycloakMiddleware

    overrides: dict[str, Any] = {}
    if variant == "feat_rev_redis":
        if redis_url is None:
            raise ValueError("feat_rev_redis needs a Redis URL")
        overrides["revocation_store"] = redis_url
    metrics = None
    if variant == "feat_metrics":
        from prometheus_client import CollectorRegistry

        from fastapi_kc.metrics import PrometheusMetrics

        metrics = PrometheusMetrics(CollectorRegistry())
    auth = ours.make_auth(http_client, internal_url, metrics=metrics, **overrides)

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        async with auth.lifespan(app):
            if variant.startswith("feat_rev"):
                revoke_others(auth)
            yield

    app = FastAPI(lifespan=lifespan)
    app.state.bench_auth = auth
    if variant == "feat_introspect":
        _endpoint(app, auth.require_active())
    else:
        _endpoint(app)
        app.add_middleware(KeycloakMiddleware, auth=auth, public_paths=["/health"])
    return app


def build_app(variant: str, internal_url: str, http_client: Any = None) -> FastAPI:
    """The FastAPI app of one variant; ``internal_url`` is the (fake) Keycloak's."""
    if variant in ("bare", "bare_again"):
        app = FastAPI()
        _endpoint(app)
        return app
    if variant == "floor_mw":
        app = FastAPI()
        _endpoint(app)
        app.add_middleware(FloorMiddleware)
        return app
    if variant == "floor_dep":
        app = FastAPI()
        _endpoint(app, floor_dependency())
        return app
    if variant == "noop_dep":
        app = FastAPI()
        _endpoint(app, nothing)
        return app
    if variant.startswith("ours"):
        from fastapi_kc import KeycloakMiddleware

        auth = ours.make_auth(http_client, internal_url)
        app = FastAPI(lifespan=auth.lifespan)
        app.state.bench_auth = auth
        if variant == "ours_deco":
            _decorated_endpoint(app, auth)
        elif variant == "ours_roles":
            _endpoint(app, auth.require_roles(ROLE))
        else:
            _endpoint(app, auth.principal if variant in ("ours_dep", "ours_mw_dep") else None)
        if variant in ("ours_mw", "ours_mw_dep"):
            app.add_middleware(KeycloakMiddleware, auth=auth, public_paths=["/health"])
        return app
    if variant == "fkm":
        from fastapi_keycloak_middleware import KeycloakConfiguration, setup_keycloak_middleware

        app = FastAPI()
        _endpoint(app)
        config = KeycloakConfiguration(
            url=internal_url,
            realm=common.REALM,
            client_id=common.CLIENT_ID,
            client_secret=common.CLIENT_SECRET,
            # the same checks as ours: issuer (the public one), audience, expiry
            validation_options={
                "check_claims": {"iss": common.ISSUER, "aud": common.AUDIENCE, "exp": None},
                "algs": ["RS256"],
            },
        )
        setup_keycloak_middleware(app, config, exclude_patterns=["/health"])
        return app
    raise ValueError(f"unknown variant {variant!r}")
