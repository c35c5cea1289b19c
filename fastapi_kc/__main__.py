"""The `fastapi-kc` command (also `python -m fastapi_kc`): `fastapi-kc doctor [--token T] [--json]`.

Exit codes: 0 when every check passed (warnings allowed), 1 when one failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import TextIO

import httpx

from fastapi_kc._doctor import run_doctor

_DESCRIPTION = """\
Check this service's KEYCLOAK_* settings against the real Keycloak, in order: settings, reach
(DNS, connect, TLS), discovery, issuer, key set, clock; then optionally a token and a
client-credentials token. Each line says pass/warn/fail/skip, what was found, and the fix."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastapi-kc", description="Tools for fastapi_kc services.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    doctor = commands.add_parser("doctor", help="diagnose the Keycloak set-up", description=_DESCRIPTION)
    doctor.add_argument(
        "--token",
        metavar="TOKEN",
        help="also check this access token as the service would ('-' reads it from standard input); "
        "it is never printed",
    )
    doctor.add_argument(
        "--client-credentials",
        action="store_true",
        help="also request a token for KEYCLOAK_CLIENT_ID with KEYCLOAK_CLIENT_SECRET and check it",
    )
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    http_client: httpx.AsyncClient | None = None,
) -> int:
    """Run the command; returns the exit code (the console script exits with it).

    `stdin`, `stdout` and `http_client` replace the process's own, for tests.
    """
    args = _parser().parse_args(argv)
    out = stdout or sys.stdout
    token: str | None = args.token
    if token == "-":  # noqa: S105 - "-" means standard input, as in most tools
        token = (stdin or sys.stdin).read()
    # The settings log a warning for plain http; the report shows it as a check instead.
    logger = logging.getLogger("fastapi_kc")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    report = asyncio.run(run_doctor(token=token, client_credentials=args.client_credentials, http_client=http_client))
    out.write(report.render_json() if args.json else report.render_text())
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
