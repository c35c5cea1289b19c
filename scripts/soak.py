"""Soak: the example app under uvicorn, the real Keycloak, a bounded load at concurrency 50.

    .venv/bin/python scripts/soak.py [--requests 30000] [--concurrency 50] [--json soak.json]

Everything runs on 127.0.0.1. The load is a fixed mix of tokens whose right answer is known in
advance: valid tokens of three users and of a service account (200, or 403 on /admin for a
user without the `admin` role), expired tokens, tokens for another audience and garbage (401).
Three phases of about a third of the requests each:

1. steady load;
2. Keycloak restarted while the load goes on (the phase lasts at least as long as the restart);
3. a new RSA key added through the admin API (a key rotation: Keycloak signs new tokens with
   it), tokens signed with the new key added to the mix beside the old ones.

Reported: requests, responses by status, wrong outcomes (a status other than the expected one:
must be 0), 5xx (must be 0), p50/p99 latency per phase, the app's RSS and peak RSS before and
after the load. Exit status 1 if any wrong outcome or 5xx was seen.

Garbage tokens carry the realm's own kid (mutated signatures, `alg: none`, random text): a
token naming an unknown kid asks for a key-set refetch, and while Keycloak is down that is a
503 by design (`KeysUnavailableError`); the hostile tests cover that case.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from keycloak_dev import KeycloakServer  # noqa: E402
from keycloak_dev.server import free_port  # noqa: E402

USERS = {"mario": "mario-password", "luigi": "luigi-password", "admin": "admin-password"}
SERVICE = ("shop-api", "shop-api-secret")
OTHER_AUDIENCE = ("rogue", "rogue-secret")
KEY_PROVIDER = "org.keycloak.keys.KeyProvider"


@dataclass(frozen=True)
class Call:
    kind: str
    path: str
    token: str
    expected: int


@dataclass
class Phase:
    name: str
    statuses: Counter[int] = field(default_factory=Counter)
    wrong: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def pct(p: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2) if ordered else 0.0

        return {
            "requests": len(self.latencies),
            "statuses": dict(sorted(self.statuses.items())),
            "wrong": dict(self.wrong),
            "5xx": sum(n for s, n in self.statuses.items() if s >= 500),
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 2) if ordered else 0.0,
            "kinds": dict(sorted(self.kinds.items())),
        }


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def header(token: str) -> dict[str, Any]:
    head = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- tokens --------------------------------------------------------------------------------------


def user_token(kc: KeycloakServer, user: str) -> str:
    return str(kc.token("web", username=user, password=USERS[user])["access_token"])


def valid_calls(kc: KeycloakServer, label: str) -> list[Call]:
    calls = []
    for user in USERS:
        token = user_token(kc, user)
        roles = claims(token).get("realm_access", {}).get("roles", [])
        calls.append(Call(f"{label}:{user}", "/me", token, 200))
        calls.append(Call(f"{label}:{user}", "/admin", token, 200 if "admin" in roles else 403))
    service = str(kc.token(SERVICE[0], client_secret=SERVICE[1])["access_token"])
    calls.append(Call(f"{label}:service-account", "/me", service, 200))
    return calls


def expired_calls(kc: KeycloakServer) -> tuple[list[Call], float]:
    """Tokens issued while the realm's access token lifespan is 1 s; returns when they are dead."""
    original = kc.admin("GET", "demo")["accessTokenLifespan"]
    kc.admin("PUT", "demo", {"accessTokenLifespan": 1})
    try:
        tokens = [user_token(kc, user) for user in USERS]
    finally:
        kc.admin("PUT", "demo", {"accessTokenLifespan": original})
    dead_after = max(claims(t)["exp"] for t in tokens) + 30 + 2  # the app's default leeway is 30 s
    return [Call("expired", "/me", t, 401) for t in tokens], dead_after


def other_audience_calls(kc: KeycloakServer) -> list[Call]:
    token = str(kc.token(OTHER_AUDIENCE[0], client_secret=OTHER_AUDIENCE[1])["access_token"])
    aud = claims(token).get("aud")
    if aud == "api" or (isinstance(aud, list) and "api" in aud):
        raise SystemExit(f"the {OTHER_AUDIENCE[0]} client's tokens include the api audience: {aud!r}")
    return [Call("wrong-audience", path, token, 401) for path in ("/me", "/admin")]


def garbage_calls(valid: list[Call], rng: random.Random) -> list[Call]:
    calls = []
    for call in valid[:6]:
        head, body, sig = call.token.split(".")
        flipped = sig[:20] + ("A" if sig[20] != "A" else "B") + sig[21:]
        calls.append(Call("garbage:signature", call.path, f"{head}.{body}.{flipped}", 401))
        tampered = dict(claims(call.token), realm_access={"roles": ["admin"]})
        calls.append(Call("garbage:payload", call.path, f"{head}.{b64(json.dumps(tampered).encode())}.{sig}", 401))
        none = b64(json.dumps({**header(call.token), "alg": "none"}).encode())
        calls.append(Call("garbage:alg-none", call.path, f"{none}.{body}.", 401))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    for _ in range(6):
        calls.append(Call("garbage:random", "/me", "".join(rng.choices(alphabet, k=rng.randint(1, 900))), 401))
    return calls


def rotate_key(kc: KeycloakServer) -> None:
    realm_id = kc.admin("GET", "demo")["id"]
    config = {"priority": ["500"], "keySize": ["2048"], "active": ["true"], "enabled": ["true"], "algorithm": ["RS256"]}
    component = {"name": "rsa-soak-rotated", "providerId": "rsa-generated", "providerType": KEY_PROVIDER}
    kc.admin("POST", "demo/components", {**component, "parentId": realm_id, "config": config})


# --- the app ---------------------------------------------------------------------------------------


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of `pid`, in kB, from /proc."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


def start_app(kc: KeycloakServer, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYCLOAK_")}
    env.update(
        KEYCLOAK_PUBLIC_URL=kc.public_url,
        KEYCLOAK_INTERNAL_URL=kc.internal_url,
        KEYCLOAK_REALM="demo",
        KEYCLOAK_AUDIENCE="api",
        KEYCLOAK_CLIENT_ID=SERVICE[0],
        KEYCLOAK_CLIENT_SECRET=SERVICE[1],
        SHOP_NOTIFY_URL=f"http://127.0.0.1:{port}",
    )
    command = [sys.executable, "-m", "uvicorn", "example_app.main:create_app", "--factory",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]  # fmt: skip
    app = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603 - our own interpreter and arguments
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return app
        except httpx.HTTPError:
            pass
        if app.poll() is not None:
            raise SystemExit(f"the app exited with {app.returncode} during start-up")
        time.sleep(0.2)
    app.terminate()
    raise SystemExit("the app did not answer /health within 60 s")


# --- the load ----------------------------------------------------------------------------------------


async def drive(
    client: httpx.AsyncClient, calls: list[Call], phase: Phase, *, count: int, concurrency: int,
    keep_going: threading.Event | None = None, ceiling: int | None = None, seed: int = 0,
) -> None:  # fmt: skip
    """`count` requests drawn from `calls` (and more while `keep_going` is set, up to `ceiling`)."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible mix, not a secret
    issued = 0

    def take() -> Call | None:
        nonlocal issued
        extra = keep_going is not None and keep_going.is_set() and issued < (ceiling or count)
        if issued >= count and not extra:
            return None
        issued += 1
        return rng.choice(calls)

    async def worker() -> None:
        while (call := take()) is not None:
            started = time.perf_counter()
            try:
                response = await client.get(call.path, headers={"Authorization": f"Bearer {call.token}"})
                status = response.status_code
            except httpx.HTTPError as exc:
                status = 0
                phase.wrong[f"{call.kind} {call.path}: {type(exc).__name__}"] += 1
            phase.latencies.append(time.perf_counter() - started)
            phase.statuses[status] += 1
            phase.kinds[call.kind] += 1
            if status != call.expected:
                phase.wrong[f"{call.kind} {call.path}: {status} (expected {call.expected})"] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def load(base: str, phases: list[tuple[Phase, Any]], concurrency: int) -> None:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        for phase, run in phases:
            await run(client, phase)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=30_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    third = args.requests // 3
    rng = random.Random(6)  # noqa: S311 - reproducible garbage, not a secret

    kc = KeycloakServer()
    print("starting Keycloak ...", flush=True)
    kc.start()
    app: subprocess.Popen[bytes] | None = None
    try:
        expired, dead_after = expired_calls(kc)
        valid = valid_calls(kc, "valid")
        mix = valid + expired + other_audience_calls(kc) + garbage_calls(valid, rng)
        port = free_port()
        app = start_app(kc, port)
        wait = dead_after - time.time()
        if wait > 0:
            print(f"waiting {wait:.0f} s for the short-lived tokens to expire (30 s leeway) ...", flush=True)
            time.sleep(wait)
        before = memory(app.pid)
        restart_running = threading.Event()
        rotated: list[Call] = []

        async def steady(client: httpx.AsyncClient, phase: Phase) -> None:
            await drive(client, mix, phase, count=third, concurrency=args.concurrency, seed=1)

        async def restart(client: httpx.AsyncClient, phase: Phase) -> None:
            restart_running.set()

            def restart_keycloak() -> None:
                try:
                    kc.restart()
                finally:
                    restart_running.clear()

            thread = threading.Thread(target=restart_keycloak)
            thread.start()
            await drive(client, mix, phase, count=third, concurrency=args.concurrency,
                        keep_going=restart_running, ceiling=3 * third, seed=2)  # fmt: skip
            await asyncio.to_thread(thread.join)

        async def rotation(client: httpx.AsyncClient, phase: Phase) -> None:
            await asyncio.to_thread(rotate_key, kc)
            rotated.extend(await asyncio.to_thread(valid_calls, kc, "rotated"))
            kids = {header(c.token)["kid"] for c in rotated}
            old_kids = {header(c.token)["kid"] for c in valid}
            print(f"rotated: new tokens signed with {sorted(kids)}, old ones with {sorted(old_kids)}", flush=True)
            await drive(client, mix + rotated, phase, count=third, concurrency=args.concurrency, seed=3)

        phases = [(Phase("steady"), steady), (Phase("keycloak-restart"), restart), (Phase("key-rotation"), rotation)]
        started = time.monotonic()
        asyncio.run(load(f"http://127.0.0.1:{port}", phases, args.concurrency))
        elapsed = time.monotonic() - started
        after = memory(app.pid)
    finally:
        if app is not None:
            app.terminate()
            app.wait(timeout=30)
        kc.close()

    report = {
        "requests": sum(len(p.latencies) for p, _ in phases),
        "concurrency": args.concurrency,
        "seconds": round(elapsed, 1),
        "phases": {p.name: p.summary() for p, _ in phases},
        "rss_kb": {"before": before, "after": after},
        "keycloak_restart_seconds": round(kc.startup_seconds or 0, 1),
    }
    totals: Counter[int] = Counter()
    for phase, _ in phases:
        totals.update(phase.statuses)
    report["statuses"] = dict(sorted(totals.items()))
    report["wrong"] = sum(sum(p.wrong.values()) for p, _ in phases)
    report["5xx"] = sum(n for s, n in totals.items() if s >= 500)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 1 if report["wrong"] or report["5xx"] else 0


if __name__ == "__main__":
    sys.exit(main())
