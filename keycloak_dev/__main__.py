"""`python -m keycloak_dev run [--port 8080]`: the demo Keycloak in the foreground (Ctrl-C stops it)."""

from __future__ import annotations

import argparse
import sys
import time

from keycloak_dev.server import ADMIN_PASSWORD, ADMIN_USER, KEYCLOAK_VERSION, KeycloakServer, KeycloakStartError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keycloak_dev")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run Keycloak with the demo realm until Ctrl-C")
    run.add_argument("--port", type=int, default=8080)
    run.add_argument("--management-port", type=int, default=9000)
    sub.add_parser("fetch", help="only fetch and unpack the pinned distribution")
    args = parser.parse_args(argv)
    if args.command == "fetch":
        from keycloak_dev.server import distribution

        print(distribution())
        return 0
    server = KeycloakServer(http_port=args.port, management_port=args.management_port)
    print(f"Starting Keycloak {KEYCLOAK_VERSION} (log: {server.log_path}) ...", flush=True)
    try:
        server.start()
    except KeycloakStartError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"Keycloak ready in {server.startup_seconds:.0f} s")
    print(f"  public URL (browsers, iss):  {server.public_url}")
    print(f"  internal URL (services):     {server.internal_url}")
    print(f"  admin console:               {server.public_url}/admin  ({ADMIN_USER} / {ADMIN_PASSWORD})")
    print("  realm demo users: mario / mario-password, luigi / luigi-password, admin / admin-password")
    try:
        while server.running:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
