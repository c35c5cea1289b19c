"""``python -m benchmarks``: run every scenario (one process each), print the table, write the docs.

Options: ``--quick`` (fewer rounds, for trying things out), ``--only a,b`` (a subset of
scenarios; the docs are then left alone unless ``--write-docs``), ``--no-docs``.
Benchmarks are not tests: a missed target is reported, and the exit status stays 0 unless a
scenario failed to run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import common, ours
from benchmarks.report import Report

# scenario -> worker arguments (full run, quick run)
PLAN: dict[str, tuple[list[str], list[str]]] = {
    "verify_new": (["--rounds", "40", "--calls", "200"], ["--rounds", "5", "--calls", "100"]),
    "verify_repeated": (["--rounds", "40", "--calls", "200"], ["--rounds", "5", "--calls", "100"]),
    "verify_stages": (["--rounds", "21", "--calls", "500"], ["--rounds", "5", "--calls", "200"]),
    "asgi": (["--rounds", "80", "--calls", "200"], ["--rounds", "5", "--calls", "150"]),
    "features": (["--rounds", "60", "--calls", "300"], ["--rounds", "5", "--calls", "200"]),
    "gc_fill": ([], []),
    "uvicorn": (
        # Many short rounds rather than a few long ones: on a shared machine the noise comes in
        # bursts, and a median over ten ratios taken a few seconds apart shrugs off two bad ones.
        ["--rounds", "10", "--duration", "2", "--max-requests", "100000"],
        ["--rounds", "1", "--duration", "2", "--max-requests", "100000"],
    ),
    "cold_start": ([], []),
    "kid_flood": ([], []),
    "memory": ([], []),
    "service_tokens": ([], []),
}
NEEDS_OURS = {"verify_stages", "cold_start", "kid_flood", "memory", "service_tokens", "features", "gc_fill"}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=common.ROOT, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "fastapi_kc"], capture_output=True, text=True, cwd=common.ROOT
        ).stdout.strip()
        return out.stdout.strip() + (" + uncommitted changes to fastapi_kc" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (figures are noisier)")
    parser.add_argument("--only", default="", help="comma-separated scenarios: " + ", ".join(PLAN))
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md and its plot")
    parser.add_argument("--write-docs", action="store_true", help="write the docs even with --only/--quick")
    args = parser.parse_args(argv)

    selected = [s for s in PLAN if not args.only or s in args.only.split(",")]
    unknown = set(filter(None, args.only.split(","))) - set(PLAN)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    if not ours.available():
        print("!! fastapi_kc is not importable yet: its variants and scenarios 4-7 are skipped")
        selected = [s for s in selected if s not in NEEDS_OURS]

    started = time.perf_counter()
    print("== fastapi_kc benchmarks (make bench)")
    common.ensure_pool()
    logs = common.CACHE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    failed = []
    for name in selected:
        full, quick = PLAN[name]
        out = common.CACHE / f"{name}.json"
        out.unlink(missing_ok=True)
        t0 = time.perf_counter()
        print(f"-- {name} ...", end=" ", flush=True)
        with (logs / f"{name}.log").open("w") as log:
            proc = subprocess.run(
                [sys.executable, "-m", "benchmarks.worker", name, "--out", str(out), *(quick if args.quick else full)],
                cwd=common.ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
                check=False,
            )
        if proc.returncode != 0 or not out.exists():
            failed.append(name)
            print(f"FAILED (exit {proc.returncode}); see {(logs / f'{name}.log').relative_to(common.ROOT)}")
            continue
        results[name] = json.loads(out.read_text())
        print(f"{time.perf_counter() - t0:.0f} s")

    meta = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
        "machine": f"{os.cpu_count()} cores ({_cpu()})",
        "python": platform.python_version(),
        "duration": time.perf_counter() - started,
        "quick": args.quick,
    }
    (common.CACHE / "last-run.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    report = Report(results, meta)
    print(report.text())

    partial = bool(args.only) or args.quick or bool(failed)
    if not args.no_docs and (not partial or args.write_docs):
        docs = common.ROOT / "docs"
        docs.mkdir(exist_ok=True)
        plot = docs / "benchmarks.png"
        has_plot = report.plot(str(plot))
        (docs / "benchmarks.md").write_text(report.markdown(plot.name if has_plot else None))
        print(f"\nwrote docs/benchmarks.md{' and docs/benchmarks.png' if has_plot else ''}")
    elif not args.no_docs:
        print("\n(partial run: docs/benchmarks.md left alone; --write-docs to write it anyway)")
    if failed:
        print(f"\nscenarios that failed to run: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
