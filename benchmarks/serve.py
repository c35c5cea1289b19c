"""One variant's app under uvicorn on 127.0.0.1: ``python -m benchmarks.serve VARIANT PORT KEYCLOAK_URL``."""

from __future__ import annotations

import sys

import uvicorn

from benchmarks.asgi import build_app


def main() -> None:
    variant, port, kc_url = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    app = build_app(variant, kc_url)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on")


if __name__ == "__main__":
    main()
