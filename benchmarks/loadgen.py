"""Scenario 3 over loopback: uvicorn servers (one process per variant) and a load generator.

The load generator is Debian's ``wrk`` (one thread, ``CONNECTIONS`` keep-alive connections),
with a Lua script that stops after ``max_requests`` responses and, for new tokens, sends each
token of a file once. Without ``wrk``, a small asyncio HTTP/1.1 client does the same (slower,
so its absolute figures are lower; the ratios stay comparable). Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from benchmarks import common

CONNECTIONS = 32

_LUA = r"""
local tokens = nil
local i = 0
local answered = 0
local limit = 0
init = function(args)
  limit = tonumber(args[1])
  if args[2] ~= nil then
    tokens = {}
    for line in io.lines(args[2]) do
      if #line > 0 then tokens[#tokens + 1] = line end
    end
  end
end
request = function()
  if tokens ~= nil then
    i = i + 1
    if i > #tokens then i = 1 end
    wrk.headers["Authorization"] = "Bearer " .. tokens[i]
  end
  return wrk.format("GET", "/items")
end
response = function(status, headers, body)
  answered = answered + 1
  if answered >= limit then wrk.thread:stop() end
end
done = function(summary, latency, requests)
  io.write(string.format("JSONSTATS %d %d %d %d %d\n", summary.requests, summary.duration,
    summary.errors.status, latency:percentile(50), latency:percentile(99)))
end
"""


def tool() -> str:
    """``wrk`` when installed, unless ``BENCH_LOADGEN=python`` asks for the Python client."""
    if os.environ.get("BENCH_LOADGEN") == "python":
        return "python"
    return "wrk" if shutil.which("wrk") else "python"


def pinned(command: list[str], cpu: int) -> list[str]:
    """`command` run on one CPU (`taskset`), so that the server and the load generator each have
    a core of their own; unchanged on a machine with one core or without taskset."""
    if (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        return command
    return ["taskset", "-c", str(cpu), *command]


SERVER_CPU, LOAD_CPU = 0, 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Servers:
    """One uvicorn process per variant on 127.0.0.1, all started before measuring."""

    def __init__(self, variants: list[str], kc_url: str) -> None:
        self.variants = variants
        self.kc_url = kc_url
        self.ports: dict[str, int] = {}
        self.procs: list[subprocess.Popen[bytes]] = []

    def url(self, variant: str) -> str:
        return f"http://127.0.0.1:{self.ports[variant]}"

    def __enter__(self) -> Servers:
        for v in self.variants:
            port = _free_port()
            self.ports[v] = port
            self.procs.append(
                subprocess.Popen(
                    pinned([sys.executable, "-m", "benchmarks.serve", v, str(port), self.kc_url], SERVER_CPU),
                    cwd=common.ROOT,
                )
            )
        deadline = time.monotonic() + 60
        for v in self.variants:
            while True:
                try:
                    if httpx.get(f"{self.url(v)}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"uvicorn server for {v} did not start")
                time.sleep(0.2)
        return self

    def check(self, variant: str, token: str) -> dict[str, int]:
        ok = httpx.get(f"{self.url(variant)}/items", headers={"Authorization": f"Bearer {token}"})
        refused = httpx.get(f"{self.url(variant)}/items")
        return {"valid": ok.status_code, "no token": refused.status_code}

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def run(
    url: str,
    *,
    token: str | None = None,
    token_file: Path | None = None,
    duration: float = 3.0,
    max_requests: int = 30_000,
    connections: int = CONNECTIONS,
) -> dict[str, float]:
    """Load ``url/items`` for at most ``duration`` seconds and ``max_requests`` responses."""
    if tool() == "wrk":
        return _run_wrk(url, token, token_file, duration, max_requests, connections)
    return asyncio.run(_run_python(url, token, token_file, duration, max_requests, connections))


def side_by_side(url: str, other_url: str, token: str, duration: float) -> tuple[dict[str, float], dict[str, float]]:
    """Load two servers at the same time, each with half the connections: (url's, other_url's).

    Both servers share one core, so whatever slows the machine slows both at the same moment;
    with the core shared fairly, the ratio of their throughputs is the inverse of the ratio of
    their costs per request, without the noise that separates two runs taken a few seconds apart.
    """
    with ThreadPoolExecutor(2) as pool:
        runs = [
            pool.submit(run, u, token=token, duration=duration, max_requests=10**7, connections=CONNECTIONS // 2)
            for u in (url, other_url)
        ]
        first, second = (r.result() for r in runs)
    return first, second


def _run_wrk(
    url: str, token: str | None, token_file: Path | None, duration: float, limit: int, connections: int
) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_LUA)
        script = f.name
    cmd = pinned(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "-s", script], LOAD_CPU)
    if token is not None:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    cmd += [f"{url}/items", "--", str(limit)]
    if token_file is not None:
        cmd.append(str(token_file))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()} {proc.stdout.strip()}")
        out = proc.stdout
    finally:
        Path(script).unlink()
    m = re.search(r"JSONSTATS (\d+) (\d+) (\d+) (\d+) (\d+)", out)
    if not m:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    requests, duration_us, bad_status, p50, p99 = (int(x) for x in m.groups())
    return {
        "requests": requests,
        "rps": requests / (duration_us / 1e6),
        "non_2xx": bad_status,
        "p50_us": p50,
        "p99_us": p99,
    }


async def _run_python(
    url: str, token: str | None, token_file: Path | None, duration: float, limit: int, connections: int
) -> dict[str, float]:
    host, port = url.removeprefix("http://").split(":")
    toks = token_file.read_text().split() if token_file is not None else [token or ""]
    state: dict[str, Any] = {"i": 0, "done": 0, "bad": 0, "lat": []}
    deadline = time.perf_counter() + duration

    async def conn() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while state["done"] < limit and time.perf_counter() < deadline:
                tok = toks[state["i"] % len(toks)]
                state["i"] += 1
                req = f"GET /items HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {tok}\r\n\r\n"
                t0 = time.perf_counter()
                writer.write(req.encode())
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
                await reader.readexactly(length)
                state["lat"].append(time.perf_counter() - t0)
                state["done"] += 1
                if not head.startswith(b"HTTP/1.1 2"):
                    state["bad"] += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(conn() for _ in range(connections)))
    elapsed = time.perf_counter() - t0
    lat = sorted(state["lat"])
    return {
        "requests": state["done"],
        "rps": state["done"] / elapsed,
        "non_2xx": state["bad"],
        "p50_us": lat[len(lat) // 2] * 1e6 if lat else 0,
        "p99_us": lat[int(len(lat) * 0.99)] * 1e6 if lat else 0,
    }
