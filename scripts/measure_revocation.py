"""Measure what revocation costs: per request, per revoked session, and from one replica to another.

    .venv/bin/python scripts/measure_revocation.py [--rounds N]

Prints the figures docs/scaling.md quotes:
1. the revocation check on the verified-token cache path (every request with a repeated token):
   `auth.verify` with the check against the same call with the check replaced by a no-op, with
   an empty list and with 10,000 revoked sessions, for the memory and the Redis store (the
   request path is the same local look-up for both: that is the point);
2. memory per revoked session in the local view (tracemalloc, 100,000 revocations);
3. propagation: from `revoke()` on one store to the revocation being applied by another store's
   listener (separate Redis connections, as two replicas have), through a real redis-server.
Needs Debian's redis-server (`make redis-deps`). No assertions: these are measurements.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import timeit
import tracemalloc
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi_kc import KeycloakAuth, KeycloakSettings
from fastapi_kc._revocations import Revocation, RevocationList
from fastapi_kc.revocation.redis import RedisRevocationStore
from tests.support.fake_keycloak import FakeKeycloak, settings_values
from tests.support.redis_server import RedisServer
from tests.support.tokens import SigningKey, mint, user_claims


def _noop(*_: object) -> None:
    return None


async def per_request(store: str, revoked: int, rounds: int) -> tuple[float, float, float]:
    """ns per `verify()` of a cached token with the check and with a no-op in its place (rounds
    interleaved, best of each: noise from other processes hits both alike), and ns per request of
    the check alone, as the verifier runs it (timeit, best of rounds)."""
    key = SigningKey.rsa("kid-rsa-1")
    auth = KeycloakAuth(
        KeycloakSettings(**settings_values(revocation_store=store)), http_client=FakeKeycloak(keys=[key]).client()
    )
    async with auth:
        now = time.time()
        for _ in range(revoked):
            auth.revocations.apply(Revocation("sid", str(uuid.uuid4()), now, now + 3600))
        claims = user_claims()
        token = mint(claims, key)
        await auth.verify(token)
        real = auth.revocations.check
        best = {"real": float("inf"), "noop": float("inf")}
        n = 20_000
        for _ in range(rounds):
            for name, check in (("real", real), ("noop", _noop)):
                auth.revocations.check = check  # type: ignore[method-assign]
                started = time.perf_counter_ns()
                for _ in range(n):
                    await auth.verify(token)
                best[name] = min(best[name], (time.perf_counter_ns() - started) / n)
        auth.revocations.check = real  # type: ignore[method-assign]
        # What the verifier runs on a cache hit: the `active` flag, then the look-ups if anything is revoked.
        timer = timeit.Timer("if rev.active: rev.check(sid, sub, iat)", globals={"rev": auth.revocations,
                             "sid": claims["sid"], "sub": claims["sub"], "iat": float(claims["iat"])})  # fmt: skip
        alone = min(timer.repeat(repeat=rounds, number=200_000)) / 200_000 * 1e9
    return best["real"], best["noop"], alone


def memory_per_revocation(count: int = 100_000) -> float:
    revocations = RevocationList(time.time)
    ids = [str(uuid.uuid4()) for _ in range(count)]  # Keycloak session ids are UUIDs
    now = time.time()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for sid in ids:
        revocations.apply(Revocation("sid", sid, now, now + 3600))
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    # The id strings arrive with the logout token either way; count them too, as the list keeps them.
    return (grown + sum(sys.getsizeof(sid) for sid in ids)) / count


async def propagation(url: str, samples: int) -> list[float]:
    """Seconds from `revoke()` on replica A to the revocation applied on replica B."""
    a_list, b_list = RevocationList(time.time), RevocationList(time.time)
    a = RedisRevocationStore(url, namespace="measure", clock=time.time)
    b = RedisRevocationStore(url, namespace="measure", clock=time.time)
    await a.start(a_list)
    await b.start(b_list)
    delays = []
    try:
        for _ in range(samples):
            sid = str(uuid.uuid4())
            arrived = asyncio.Event()
            b_list.watch(sid, "nobody", 0, arrived.set)
            now = time.time()
            started = time.perf_counter()
            await a.revoke(Revocation("sid", sid, now, now + 60))
            await asyncio.wait_for(arrived.wait(), 5)
            delays.append(time.perf_counter() - started)
    finally:
        await a.close()
        await b.close()
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    redis = RedisServer().start()
    try:
        print("1. revocation check on the cached-token path (ns per request; best of rounds)")
        for store in ("memory", redis.url):
            for revoked in (0, 10_000):
                with_check, without, alone = asyncio.run(per_request(store, revoked, args.rounds))
                name = "memory" if store == "memory" else "redis"
                print(
                    f"   {name:6} store, {revoked:6} revoked sessions: verify {with_check:6.0f} ns, with a no-op "
                    f"in its place {without:6.0f} ns; the check alone {alone:5.0f} ns per request"
                )
        print(f"2. memory per revoked session (100,000 sids): {memory_per_revocation():.0f} bytes")
        delays = sorted(asyncio.run(propagation(redis.url, args.samples)))
        ms = [d * 1000 for d in delays]
        print(
            f"3. propagation A -> Redis -> B over {len(ms)} logouts: median {statistics.median(ms):.2f} ms, "
            f"p99 {ms[int(len(ms) * 0.99) - 1]:.2f} ms, max {ms[-1]:.2f} ms"
        )
    finally:
        redis.close()


if __name__ == "__main__":
    main()
