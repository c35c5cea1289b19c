#!/usr/bin/env bash
# make bench: the benchmark suite in its own venv (.venv-bench), with the peer libraries.
# Usage: bash benchmarks/run.sh [--quick] [--rounds N] [--only SCENARIO,...]
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=.venv-bench
PY="$VENV/bin/python"
STAMP="$VENV/.installed"

if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ] || [ benchmarks/requirements.txt -nt "$STAMP" ]; then
    echo "== setting up $VENV (project + peers)"
    test -x "$PY" || "$PYTHON" -m venv "$VENV"
    mkdir -p .cache/bench
    if ! { "$PY" -m pip install -q --upgrade pip && "$PY" -m pip install -q -e . -r benchmarks/requirements.txt; } \
        >.cache/bench/pip.log 2>&1; then
        cat .cache/bench/pip.log
        echo "!! installing the benchmark environment failed" >&2
        exit 1
    fi
    touch "$STAMP"
fi

# Load generator for the uvicorn scenario: Debian's wrk (we fall back to a Python client if absent).
if ! command -v wrk >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing Debian's wrk"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null) \
            || echo "   wrk unavailable; the uvicorn scenario uses the Python load generator"
    fi
fi

exec "$PY" -m benchmarks "$@"
