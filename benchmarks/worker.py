"""One scenario, in its own process: ``python -m benchmarks.worker SCENARIO --out FILE [--rounds N]``.

Variants of a scenario run in interleaved rounds (the order rotates every round), so slow
phases of a noisy machine hit every variant alike; ratios are taken within each round.
The result is written as JSON for ``benchmarks.report``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import string
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks import asgi, common, ours
from benchmarks.fake_keycloak import FakeKeycloak

SCENARIOS: dict[str, Callable[[argparse.Namespace], Any]] = {}


def scenario(name: str) -> Callable[[Callable[[argparse.Namespace], Any]], Callable[[argparse.Namespace], Any]]:
    def register(fn: Callable[[argparse.Namespace], Any]) -> Callable[[argparse.Namespace], Any]:
        SCENARIOS[name] = fn
        return fn

    return register


def rotated(items: list[Any], r: int) -> list[Any]:
    k = r % len(items)
    return items[k:] + items[:k]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


# --- scenarios 1 and 2: verify -----------------------------------------------------------------


async def _verify(args: argparse.Namespace, mode: str) -> dict[str, Any]:
    from benchmarks import verifiers

    fake = FakeKeycloak()
    vs = verifiers.floor_verifiers()
    auth = None
    if ours.available():
        v, auth = await verifiers.ours_verifier(fake.client())
        vs.insert(0, v)
    vs += verifiers.peer_verifiers()

    n = args.calls
    # Distinct tokens: round r uses pool[base + r*n : base + (r+1)*n]; warm-up uses the slice before.
    base = n
    good = next(common.iter_tokens(common.POOL_SIZE - 1))
    bad = verifiers.bad_tokens()
    problems = {v.name: await verifiers.check(v, good, bad) for v in vs}

    async def run_batch(v: verifiers.Verifier, toks: list[str]) -> float:
        prepare = getattr(v, "prepare", None)
        if prepare is not None:
            for t in toks:
                prepare(t)
        gc.collect()
        if v.averify is not None:
            averify = v.averify
            t0 = time.perf_counter()
            for t in toks:
                await averify(t)
            return time.perf_counter() - t0
        verify = v.verify
        assert verify is not None
        t0 = time.perf_counter()
        for t in toks:
            verify(t)
        return time.perf_counter() - t0

    repeated = common.tokens(0, 1)[0]
    warm = common.tokens(0, min(n, 100)) if mode == "new" else [repeated] * 100
    for v in vs:
        await run_batch(v, warm)

    us: dict[str, list[float]] = {v.name: [] for v in vs}
    for r in range(args.rounds):
        toks = common.tokens(base + r * n, n) if mode == "new" else [repeated] * n
        for v in rotated(vs, r):
            us[v.name].append(await run_batch(v, toks) / n * 1e6)
    if auth is not None:
        await ours.stop_auth(auth)
    return {
        "mode": mode,
        "calls_per_round": n,
        "rounds": args.rounds,
        "labels": {v.name: v.label for v in vs},
        "us": us,
        "problems": problems,
    }


@scenario("verify_new")
def verify_new(args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(_verify(args, "new"))


@scenario("verify_repeated")
def verify_repeated(args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(_verify(args, "repeated"))


# --- scenario 1b: where a new token's time goes ---------------------------------------------------

STAGES = {
    "floor": "floor: cryptography RS256 + b64/JSON",
    "parse": "ours: parse (split, header, signature base64)",
    "signature": "+ RSA signature check",
    "payload": "+ payload base64 and JSON",
    "claims": "+ claim rules (iss, aud, exp, iat, typ, cnf, sub)",
    "principal": "+ Principal",
    "verify": "await auth.verify (+ cache and key look-ups, bookkeeping, coroutine)",
}


async def _verify_stages(args: argparse.Namespace) -> dict[str, Any]:
    """Each step of `verify` added to the ones before, in interleaved rounds of distinct tokens:
    the differences say what each step costs where it runs (after an RSA operation, caches cold)."""
    from benchmarks import verifiers
    from fastapi_kc._claims import check_access_token
    from fastapi_kc._jws import b64url_decode, decode_json_object, parse_compact, verify_signature

    fake = FakeKeycloak()
    auth = await ours.start_auth(fake.client(), fake.internal_url)
    v = auth._verifier  # the same objects as the verifier uses
    key = next(iter(v._keys.current.values()))
    algorithms, issuer, audiences, leeway = v._algorithms, v._issuer, v._audiences, v._leeway
    new_principal, binding = v._new_principal, v.binding
    floor = verifiers.floor_verifiers()[0].verify
    assert floor is not None

    def parse(token: str) -> Any:
        return parse_compact(token, allowed_algorithms=algorithms)

    def signature(token: str) -> Any:
        parsed = parse(token)
        verify_signature(key, parsed)
        return parsed

    def payload(token: str) -> Any:
        return decode_json_object(b64url_decode(signature(token).payload_segment), "payload")

    def claims(token: str) -> Any:
        found = payload(token)
        check_access_token(found, issuer=issuer, audiences=audiences, now=time.time(), leeway=leeway)
        return found

    def principal(token: str) -> Any:
        return new_principal(claims(token), binding)

    steps: dict[str, Callable[[str], Any]] = {
        "floor": floor, "parse": parse, "signature": signature, "payload": payload, "claims": claims,
        "principal": principal,
    }  # fmt: skip
    n = args.calls
    us: dict[str, list[float]] = {name: [] for name in STAGES}
    for r in range(args.rounds):
        toks = common.tokens(n + r * n, n)  # distinct tokens, also for `verify`: no cache helps
        for name in rotated(list(STAGES), r):
            gc.collect()
            if name == "verify":
                verify = auth.verify
                t0 = time.perf_counter()
                for t in toks:
                    await verify(t)
            else:
                step = steps[name]
                t0 = time.perf_counter()
                for t in toks:
                    step(t)
            us[name].append((time.perf_counter() - t0) / n * 1e6)
    await ours.stop_auth(auth)
    return {"calls_per_round": n, "rounds": args.rounds, "labels": STAGES, "us": us}


@scenario("verify_stages")
def verify_stages(args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(_verify_stages(args))


# --- scenario 3: through the framework, in process -----------------------------------------------


ROUNDS_PER_GENERATION = 10  # scenarios 3 and 3c: rounds measured with one set of app instances


async def _fresh_apps(
    running: list[asgi.Lifespan], build: Callable[[], dict[str, Any]]
) -> tuple[dict[str, Any], list[asgi.Lifespan]]:
    """Stop the apps of `running` and start new instances built by `build`.

    Two instances of the same app differ by about 1 % for as long as they live (where their
    objects happen to sit in memory), as much as the margin of target 3; new instances now and
    then turn that bias into noise the median over the rounds averages out.
    """
    for ls in running:
        await ls.__aexit__(None, None, None)
    apps = build()
    lifespans = [asgi.Lifespan(app) for app in apps.values()]
    for ls in lifespans:
        await ls.__aenter__()
    return apps, lifespans


async def _asgi(args: argparse.Namespace, kc_url: str) -> dict[str, Any]:
    names = [v for v in asgi.VARIANTS if (ours.available() or not v.startswith("ours")) and v not in asgi.UVICORN_ONLY]

    def build() -> dict[str, Any]:
        return {v: asgi.build_app(v, kc_url) for v in names}

    apps, lifespans = await _fresh_apps([], build)

    n = args.calls
    repeated = common.tokens(0, 1)[0]
    levels = {v: asgi.dependency_levels(app) for v, app in apps.items()}
    security = {
        v: sorted(
            name for requirement in app.openapi()["paths"]["/items"]["get"].get("security", []) for name in requirement
        )
        for v, app in apps.items()
    }
    nodes = {v: asgi.dependency_nodes(app) for v, app in apps.items()}
    sanity: dict[str, dict[str, int]] = {}
    for v, app in apps.items():
        sanity[v] = {
            "valid": await asgi.request(app, repeated),
            "no token": await asgi.request(app, None),
            "bad token": await asgi.request(app, repeated[:-8] + "AAAAAAAA"),
            "public path": await asgi.request(app, None, "/health"),
        }
    # middleware + auth.principal must verify once per request: count verify calls
    verify_calls: dict[str, int] = {}
    for v in names:
        auth = getattr(apps[v].state, "bench_auth", None)
        if auth is None:
            continue
        calls = 0
        verifier = auth._verifier  # an authentication is a full verification or a find in the cache

        async def counting(token: str, _original: Any = verifier.verify) -> Any:
            nonlocal calls
            calls += 1
            return await _original(token)

        def counting_cached(headers: Any, _original: Any = auth.cached_principal) -> Any:
            nonlocal calls
            found = _original(headers)
            calls += found is not None
            return found

        # The cached step is `auth.cached_principal`, bound at start to the verifier's cache.
        verifier.verify, auth.cached_principal = counting, counting_cached
        for t in common.tokens(2, 5):
            await asgi.request(apps[v], t)
            await asgi.request(apps[v], t)  # the second request finds the token in the cache
        del verifier.verify  # back to the class's method
        auth.cached_principal = counting_cached.__defaults__[0]  # type: ignore[index]
        verify_calls[v] = calls
    us: dict[str, dict[str, list[float]]] = {m: {v: [] for v in names} for m in ("repeated", "new")}
    statuses: set[int] = set()
    base = 1000
    for r in range(args.rounds):
        if r and r % ROUNDS_PER_GENERATION == 0:
            apps, lifespans = await _fresh_apps(lifespans, build)
        if r % ROUNDS_PER_GENERATION == 0:
            # warm-up (the peer fetches its key set on the first request)
            for app in apps.values():
                await asgi.timed_requests(app, [repeated] * 200)
                await asgi.timed_requests(app, common.tokens(1, 200))
        fresh = common.tokens(base + r * n, n)  # each app has its own cache: all may share a slice
        for v in rotated(names, r):
            for mode in rotated(["repeated", "new"], r):
                toks = fresh if mode == "new" else [repeated] * n
                gc.collect()
                seconds, st = await asgi.timed_requests(apps[v], toks)
                statuses.update(st)
                us[mode][v].append(seconds / n * 1e6)
    for ls in lifespans:
        await ls.__aexit__(None, None, None)
    return {
        "requests_per_round": n,
        "rounds": args.rounds,
        "rounds_per_generation": ROUNDS_PER_GENERATION,
        "labels": {v: asgi.VARIANTS[v] for v in names},
        "us": us,
        "statuses": sorted(statuses),
        "sanity": sanity,
        "verify_calls_per_10_requests": verify_calls,
        "dependency_levels": levels,
        "dependency_nodes": nodes,
        "openapi_security": security,
    }


@scenario("asgi")
def asgi_scenario(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.fake_keycloak import running_server, server_stats

    with running_server() as kc_url:
        result = asyncio.run(_asgi(args, kc_url))
        result["keycloak_requests"] = server_stats(kc_url)
    return result


# --- scenario 3c: what each feature costs ---------------------------------------------------------


@contextlib.contextmanager
def _redis_server() -> Iterator[str | None]:
    """Debian's redis-server on a free loopback port (nothing persisted); None when not installed."""
    import shutil
    import socket
    import subprocess
    import tempfile

    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as workdir:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", workdir, "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                        conn.sendall(b"PING\r\n")
                        if conn.recv(16).startswith(b"+PONG"):
                            break
                except OSError:
                    time.sleep(0.1)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


async def _features(args: argparse.Namespace, kc_url: str, redis_url: str | None) -> dict[str, Any]:
    names = [v for v in asgi.FEATURES if v != "feat_rev_redis" or redis_url is not None]

    def build() -> dict[str, Any]:
        return {
            v: asgi.build_app(v, kc_url)
            if v in ("ours_mw", "ours_dep")
            else asgi.build_feature_app(v, kc_url, None, redis_url)
            for v in names
        }

    apps, lifespans = await _fresh_apps([], build)
    repeated = common.tokens(0, 1)[0]
    sanity = {v: await asgi.request(app, repeated) for v, app in apps.items()}
    revoked = {v: len(app.state.bench_auth.revocations) for v, app in apps.items()}
    n = args.calls
    us: dict[str, list[float]] = {v: [] for v in names}
    for r in range(args.rounds):
        if r and r % ROUNDS_PER_GENERATION == 0:
            apps, lifespans = await _fresh_apps(lifespans, build)
        if r % ROUNDS_PER_GENERATION == 0:
            for app in apps.values():
                await asgi.timed_requests(app, [repeated] * 300)
        for v in rotated(names, r):
            gc.collect()
            seconds, _ = await asgi.timed_requests(apps[v], [repeated] * n)
            us[v].append(seconds / n * 1e6)
    for ls in lifespans:
        await ls.__aexit__(None, None, None)
    return {
        "requests_per_round": n,
        "rounds": args.rounds,
        "rounds_per_generation": ROUNDS_PER_GENERATION,
        "labels": {v: asgi.FEATURES[v] for v in names},
        "base": {v: asgi.FEATURE_BASE[v] for v in names if v in asgi.FEATURE_BASE},
        "us": us,
        "sanity": sanity,
        "revocations_listed": revoked,
        "redis": redis_url is not None,
    }


@scenario("features")
def features_scenario(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.fake_keycloak import running_server

    with running_server() as kc_url, _redis_server() as redis_url:
        return asyncio.run(_features(args, kc_url, redis_url))


# --- scenario 3b: uvicorn over loopback -----------------------------------------------------------


@scenario("uvicorn")
def uvicorn_scenario(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks import loadgen
    from benchmarks.fake_keycloak import running_server, server_stats

    # the floor middleware is an in-process reference only: each server costs a share of the run
    names = [
        v for v in asgi.VARIANTS if (ours.available() or not v.startswith("ours")) and v not in asgi.IN_PROCESS_ONLY
    ]
    repeated = common.tokens(0, 1)[0]
    # the second bare process measures the noise of the repeated-token runs; it has no tokens to be new
    runs_of = {"repeated": names, "new": [v for v in names if v not in asgi.UVICORN_ONLY]}
    results: dict[str, dict[str, list[dict[str, float]]]] = {m: {v: [] for v in vs} for m, vs in runs_of.items()}
    # Requests are bounded by the duration and, as a safety, by --max-requests (high enough never
    # to cut a run short: wrk divides by the full duration). New tokens come from a slice of the
    # pool per round; a server faster than slice/duration would see tokens again (reported).
    slice_size = min(common.POOL_SIZE // max(1, args.rounds), 20_000)
    sanity: dict[str, dict[str, int]] = {}
    paired = [v for v in names if v != "bare" and v != "fkm"]
    side_by_side: dict[str, list[dict[str, float]]] = {v: [] for v in paired}
    with running_server() as kc_url:
        tokens_dir = common.CACHE / "uvicorn"
        tokens_dir.mkdir(exist_ok=True)
        for r in range(args.rounds):
            # Fresh server processes every round: two processes serving the same app differ by
            # up to 5 % for as long as they live (memory layout), a bias no number of rounds with
            # the same processes would average out. Every server has its own token cache; round r
            # uses one fresh slice of new tokens for all of them.
            token_file = tokens_dir / f"round{r}.txt"
            token_file.write_text("\n".join(common.iter_tokens(r * slice_size, (r + 1) * slice_size)) + "\n")
            with loadgen.Servers(names, kc_url) as servers:
                if not sanity:
                    sanity = {v: servers.check(v, repeated) for v in names}
                for v in names:  # warm-up
                    loadgen.run(servers.url(v), token=repeated, duration=1, max_requests=2000)
                # All variants of one token mode back to back: the runs a ratio pairs are close in time.
                for mode in rotated(["repeated", "new"], r):
                    for v in rotated(runs_of[mode], r):
                        res = loadgen.run(
                            servers.url(v),
                            token=repeated if mode == "repeated" else None,
                            token_file=None if mode == "repeated" else token_file,
                            duration=args.duration,
                            max_requests=args.max_requests,
                        )
                        res["tokens_reused"] = mode == "new" and res["requests"] > slice_size
                        results[mode][v].append(res)
                # The cross-check: each variant side by side with the bare endpoint, on one core.
                for v in rotated(paired, r):
                    bare_run, run = loadgen.side_by_side(servers.url("bare"), servers.url(v), repeated, args.duration)
                    side_by_side[v].append({"rps": run["rps"], "bare_rps": bare_run["rps"]})
            token_file.unlink()
        stats = server_stats(kc_url)
    return {
        "tool": loadgen.tool(),
        "connections": loadgen.CONNECTIONS,
        "duration": args.duration,
        "max_requests": args.max_requests,
        "new_tokens_per_round": slice_size,
        "rounds": args.rounds,
        "labels": {v: asgi.VARIANTS[v] for v in names},
        "results": results,
        "side_by_side": side_by_side,
        "sanity": sanity,
        "keycloak_requests": stats,
    }


# --- scenario 4: cold start -------------------------------------------------------------------------


async def _cold_start(args: argparse.Namespace) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from fastapi_kc import KeycloakMiddleware

    n = 1000
    delay = 0.05
    out: dict[str, Any] = {"requests": n, "keycloak_delay_ms": delay * 1000}

    # (a) a fresh process: start-up (discovery + key set), then 1,000 concurrent requests
    fake = FakeKeycloak(delay=delay)
    auth = ours.make_auth(fake.client(), fake.internal_url)
    app = asgi.build_app("bare", fake.internal_url)
    app.add_middleware(KeycloakMiddleware, auth=auth)
    toks = common.tokens(0, n)
    t0 = time.perf_counter()
    async with asgi.Lifespan(app):
        statuses = await asyncio.gather(*(asgi.request(app, t) for t in toks))
        elapsed = time.perf_counter() - t0
    out["fresh"] = {
        "jwks_fetches": fake.jwks_fetches,
        "keycloak_requests": dict(fake.counts),
        "seconds": elapsed,
        "statuses": _count(statuses),
    }

    # (b) the cache has no key for the tokens' kid (rotation): 1,000 concurrent requests
    fake = FakeKeycloak(delay=delay)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fake.jwks_override = {"keys": [common.public_jwk(other, kid="previous-key")]}
    cooldown = 0.2
    auth = ours.make_auth(fake.client(), fake.internal_url, jwks_cooldown_seconds=cooldown)
    app = asgi.build_app("bare", fake.internal_url)
    app.add_middleware(KeycloakMiddleware, auth=auth)
    async with asgi.Lifespan(app):
        await asyncio.sleep(cooldown * 1.5)  # a rotation happens long after start-up
        fake.jwks_override = None  # Keycloak now signs with (and serves) the new key
        before = fake.jwks_fetches
        toks = common.tokens(n, n)
        t0 = time.perf_counter()
        statuses = await asyncio.gather(*(asgi.request(app, t) for t in toks))
        elapsed = time.perf_counter() - t0
    out["rotated"] = {
        "jwks_fetches": fake.jwks_fetches - before,
        "seconds": elapsed,
        "statuses": _count(statuses),
    }
    return out


def _count(statuses: list[int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in statuses:
        out[str(s)] = out.get(str(s), 0) + 1
    return out


@scenario("cold_start")
def cold_start(args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(_cold_start(args))


# --- scenario 5: unknown-kid flood ----------------------------------------------------------------


async def _kid_flood(args: argparse.Namespace) -> dict[str, Any]:
    from fastapi_kc import KeycloakMiddleware

    flood, attackers, clients, cooldown = 10_000, 20, 10, 2.0
    fake = FakeKeycloak(delay=0.02)
    auth = ours.make_auth(fake.client(), fake.internal_url, jwks_cooldown_seconds=cooldown)
    app = asgi.build_app("bare", fake.internal_url)
    app.add_middleware(KeycloakMiddleware, auth=auth)
    now = int(time.time())
    rng = random.Random(7)
    bad = [
        common.unsigned_with_kid(
            common.claims(i, now), "".join(rng.choices(string.ascii_letters + string.digits, k=22))
        )
        for i in range(flood)
    ]
    valid = iter(common.tokens(0, 60_000))
    loop_time = asyncio.get_running_loop().time

    async def client(latencies: list[float], stop: asyncio.Event | None, count: int = 0) -> list[int]:
        statuses = []
        i = 0
        while (stop is not None and not stop.is_set()) or (stop is None and i < count):
            t0 = loop_time()
            statuses.append(await asgi.request(app, next(valid)))
            latencies.append(loop_time() - t0)
            i += 1
            await asyncio.sleep(0)
        return statuses

    async with asgi.Lifespan(app):
        # warm-up, until the token cache is full: while it fills, CPython may run a full garbage
        # collection (cached objects outlive their request): a one-off pause, not the flood's doing
        await asyncio.gather(*(client([], None, 500) for _ in range(clients)))
        baseline: list[float] = []  # the same clients, no flood
        await asyncio.gather(*(client(baseline, None, 300) for _ in range(clients)))
        await asyncio.sleep(cooldown * 1.05)  # the flood starts once a refetch is allowed
        before = fake.jwks_fetches
        queue = iter(bad)
        attack_statuses: list[int] = []

        async def attacker() -> None:
            for token in queue:
                attack_statuses.append(await asgi.request(app, token))
                await asyncio.sleep(0)  # requests arrive from the network: one per event-loop turn

        stop = asyncio.Event()
        during: list[float] = []
        t0 = time.perf_counter()
        client_tasks = [asyncio.create_task(client(during, stop)) for _ in range(clients)]
        await asyncio.gather(*(attacker() for _ in range(attackers)))
        elapsed = time.perf_counter() - t0
        stop.set()
        valid_statuses = [s for task in client_tasks for s in await task]
        fetches = fake.jwks_fetches - before
    return {
        "flood_tokens": flood,
        "attackers": attackers,
        "valid_clients": clients,
        "cooldown_s": cooldown,
        "flood_seconds": elapsed,
        "jwks_fetches": fetches,
        "allowed_fetches": 1 + int(elapsed // cooldown),
        "attack_statuses": _count(attack_statuses),
        "valid_statuses": _count(valid_statuses),
        "valid_served": len(during),
        "baseline_p50_us": percentile(baseline, 50) * 1e6,
        "baseline_p99_us": percentile(baseline, 99) * 1e6,
        "flood_p50_us": percentile(during, 50) * 1e6,
        "flood_p99_us": percentile(during, 99) * 1e6,
    }


@scenario("kid_flood")
def kid_flood(args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(_kid_flood(args))


# --- scenario 5b: garbage collection while the verified-token cache fills -------------------------


async def _gc_fill_phase(kc_url: str, tokens: list[str], freeze: bool) -> dict[str, Any]:
    app = asgi.build_app("ours_mw", kc_url)
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append(time.perf_counter() - started[0])

    async with asgi.Lifespan(app):
        for token in common.tokens(0, 50):  # warm: first requests import and build lazily
            await asgi.request(app, token)
        gc.collect()
        if freeze:
            gc.freeze()  # what a service does once started: start-up objects out of every collection
        latencies: list[float] = []
        statuses: set[int] = set()
        gc.callbacks.append(on_gc)
        try:
            for token in tokens:
                for _ in range(2):  # a token enters the cache on its second sighting
                    t0 = time.perf_counter()
                    statuses.add(await asgi.request(app, token))
                    latencies.append(time.perf_counter() - t0)
        finally:
            gc.callbacks.remove(on_gc)
        cache = app.state.bench_auth._verifier._cache
        entries = len(cache)
    if freeze:
        gc.unfreeze()
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    return {
        "freeze": freeze,
        "requests": len(tokens),
        "statuses": sorted(statuses),
        "cache_entries": entries,
        "p50_us": p50 * 1e6,
        "p99_us": p99 * 1e6,
        "p999_us": percentile(latencies, 99.9) * 1e6,
        "max_us": max(latencies) * 1e6,
        "p99_over_p50": p99 / p50,
        "gc_collections": {str(g): len(v) for g, v in pauses.items()},
        "gc_max_pause_ms": {str(g): max(v) * 1000 if v else 0.0 for g, v in pauses.items()},
        "tracked_objects": len(gc.get_objects()),
    }


@scenario("gc_fill")
def gc_fill(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.fake_keycloak import running_server

    n = 3 * 4096  # three times the default cache size: it fills, then turns over twice
    with running_server() as kc_url:
        plain = asyncio.run(_gc_fill_phase(kc_url, common.tokens(10_000, n), freeze=False))
        gc.collect()
        frozen = asyncio.run(_gc_fill_phase(kc_url, common.tokens(30_000, n), freeze=True))
    return {"phases": [plain, frozen]}


# --- scenario 6: memory ------------------------------------------------------------------------------


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def _memory(args: argparse.Namespace) -> dict[str, Any]:
    fake = FakeKeycloak()
    auth = await ours.start_auth(fake.client(), fake.internal_url)
    for t in common.tokens(0, 50):
        await auth.verify(t)
    gc.collect()
    idle = _status_kb("VmRSS")
    try:  # reset the high-water mark to the idle RSS (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
        hwm_reset = True
    except OSError:
        hwm_reset = False
    # Garbage collections caused by the cache's churn (objects that outlive a request are what
    # make CPython's cyclic collector run at all), with the longest pause of each generation.
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append(time.perf_counter() - started[0])

    gc.callbacks.append(on_gc)
    count = 0
    t0 = time.perf_counter()
    for token in common.iter_tokens(0, common.POOL_SIZE):
        await auth.verify(token)
        await auth.verify(token)  # a token enters the cache on its second sighting
        count += 1
    elapsed = time.perf_counter() - t0
    gc.callbacks.remove(on_gc)
    gc.collect()
    after = _status_kb("VmRSS")
    peak = _status_kb("VmHWM")
    cache = getattr(getattr(auth, "_verifier", None), "_cache", None)
    await ours.stop_auth(auth)
    return {
        "tokens": count,
        "idle_rss_mb": idle / 1024,
        "peak_rss_mb": peak / 1024,
        "after_rss_mb": after / 1024,
        "peak_above_idle_mb": (peak - idle) / 1024 if hwm_reset else (after - idle) / 1024,
        "hwm_reset": hwm_reset,
        "cache_entries": len(cache) if cache is not None else None,
        "seconds": elapsed,
        "gc_collections": {str(g): len(v) for g, v in pauses.items()},
        "gc_max_pause_ms": {str(g): max(v) * 1000 if v else 0.0 for g, v in pauses.items()},
        "tracked_objects": len(gc.get_objects()),
    }


@scenario("memory")
def memory(args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(_memory(args))


# --- scenario 7: service tokens ------------------------------------------------------------------


async def _service_tokens(args: argparse.Namespace) -> dict[str, Any]:
    from fastapi_kc import ServiceTokenClient

    n = 1000
    fake = FakeKeycloak(delay=0.05)
    async with ServiceTokenClient(ours.settings(fake.internal_url), http_client=fake.client()) as client:
        t0 = time.perf_counter()
        got = await asyncio.gather(*(client.get_token() for _ in range(n)))
        first = time.perf_counter() - t0
        first_requests = fake.token_requests
        t0 = time.perf_counter()
        again = await asyncio.gather(*(client.get_token() for _ in range(n)))
        second = time.perf_counter() - t0
    return {
        "callers": n,
        "keycloak_delay_ms": 50,
        "token_requests": first_requests,
        "distinct_tokens": len(set(got)),
        "seconds": first,
        "cached_wave_token_requests": fake.token_requests - first_requests,
        "cached_wave_seconds": second,
        "cached_wave_same_token": set(again) == set(got),
    }


@scenario("service_tokens")
def service_tokens(args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(_service_tokens(args))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--out", required=True)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--max-requests", type=int, default=30_000)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    result = SCENARIOS[args.scenario](args)
    result["wall_seconds"] = time.perf_counter() - t0
    result["pid"] = os.getpid()
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    sys.exit(main())
