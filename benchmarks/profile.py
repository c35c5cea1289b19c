"""Where the time goes: ``python -m benchmarks.profile CASE [--calls N] [--cprofile]``.

Cases: ``verify_new``, ``verify_repeated`` (``await auth.verify``), and ``asgi:VARIANT:MODE``
(e.g. ``asgi:ours_mw:new``, ``asgi:ours_dep:repeated``, ``asgi:bare:repeated``). Uses
pyinstrument (installed in .venv-bench) or, with ``--cprofile``, the standard profiler sorted
by own time, which shows the cost of small functions better.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
from typing import Any

from benchmarks import asgi, common, ours
from benchmarks.fake_keycloak import FakeKeycloak


async def _workload(case: str, calls: int) -> tuple[Any, Any]:
    """Prepare a case; return (coroutine function running the timed part, cleanup)."""
    fake = FakeKeycloak()
    if case.startswith("verify"):
        auth = await ours.start_auth(fake.client(), fake.internal_url)
        toks = common.tokens(0, calls) if case == "verify_new" else [common.tokens(0, 1)[0]] * calls
        await auth.verify(common.tokens(calls, 1)[0])

        async def run() -> None:
            for t in toks:
                await auth.verify(t)

        return run, auth
    _, variant, mode = case.split(":")
    app = asgi.build_app(variant, fake.internal_url, fake.client())
    life = asgi.Lifespan(app)
    await life.__aenter__()
    await asgi.timed_requests(app, common.tokens(calls, 50))
    toks = common.tokens(0, calls) if mode == "new" else [common.tokens(0, 1)[0]] * calls

    async def run_app() -> None:
        await asgi.timed_requests(app, toks)

    return run_app, None


async def main_async(args: argparse.Namespace) -> None:
    run, _ = await _workload(args.case, args.calls)
    if args.cprofile:
        prof = cProfile.Profile()
        prof.enable()
        await run()
        prof.disable()
        stats = pstats.Stats(prof, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
        return
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0001, async_mode="disabled")
    profiler.start()
    await run()
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False, show_all=False))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("case")
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
