"""`make demo` (`python -m example_app.demo`): a local Keycloak and the example shop, no Docker.

Keycloak comes from `keycloak_dev` (the pinned version, fetched with Maven on first use, the demo
realm) on port 8080 when it is free; the shop runs with uvicorn on http://127.0.0.1:8000, the
address the realm's `web` client allows Swagger UI to come back to. Ctrl-C stops both.
"""

import json
import os
import signal
import socket
import sys
from typing import Any

import uvicorn

from keycloak_dev import KEYCLOAK_VERSION, REALM_FILE, KeycloakServer, KeycloakStartError
from keycloak_dev.server import ADMIN_PASSWORD, ADMIN_USER

APP_HOST = "127.0.0.1"
APP_PORT = 8000  # fixed: the `web` client's redirect URIs name http://localhost:8000/*
KEYCLOAK_PORT = 8080
KEYCLOAK_MANAGEMENT_PORT = 9000


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        # SO_REUSEADDR like uvicorn and Keycloak: connections in TIME_WAIT do not make it busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def realm_users() -> list[tuple[str, str, list[str]]]:
    """(username, password, roles) of each user with a password in the realm file."""
    realm: dict[str, Any] = json.loads(REALM_FILE.read_text())
    users = []
    for user in realm.get("users", []):
        passwords = [c["value"] for c in user.get("credentials", []) if c.get("type") == "password"]
        if passwords:
            roles = [r for r in user.get("realmRoles", []) if not r.startswith("default-roles")]
            roles += [f"{client}:{role}" for client, names in user.get("clientRoles", {}).items() for role in names]
            users.append((user["username"], passwords[0], roles))
    return users


def client_secret(client_id: str) -> str:
    realm: dict[str, Any] = json.loads(REALM_FILE.read_text())
    return str(next(c["secret"] for c in realm["clients"] if c["clientId"] == client_id))


def shop_api_secret() -> str:
    return client_secret("shop-api")


def banner(keycloak: KeycloakServer) -> str:
    app_url = f"http://localhost:{APP_PORT}"
    token_url = f"{keycloak.internal_url}/realms/demo/protocol/openid-connect/token"
    lines = [
        "",
        f"Keycloak {KEYCLOAK_VERSION}  {keycloak.public_url}  (admin console: {keycloak.public_url}/admin,"
        f" {ADMIN_USER} / {ADMIN_PASSWORD})",
        f"Shop API      {app_url}/docs  (Swagger UI: Authorize, client_id web, no secret)",
        f"Shop pages    {app_url}/  (browser login through the client shop-bff; tokens stay on the server)",
        "",
        "Users of realm demo:",
        *(f"  {name:<8} {password:<16} {', '.join(roles) or '(no roles)'}" for name, password, roles in realm_users()),
        "",
        "From a terminal:",
        f"  TOKEN=$(curl -s -d grant_type=password -d client_id=web -d username=mario -d password=mario-password \\\n"
        f"          {token_url} | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
        f'  curl -H "Authorization: Bearer $TOKEN" {app_url}/me',
        "",
        "Ctrl-C stops the shop and Keycloak.",
        "",
    ]
    return "\n".join(lines)


def stop_on_signal(signum: int, frame: object) -> None:
    """SIGTERM and SIGHUP stop the demo like Ctrl-C: Keycloak runs in its own session and must be
    stopped by us, so the process may not just die."""
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGHUP, stop_on_signal)
    if not port_is_free(APP_PORT):
        print(f"Port {APP_PORT} is in use: the demo realm lets Swagger UI log in only from port {APP_PORT}.")
        return 1
    http_port = KEYCLOAK_PORT if port_is_free(KEYCLOAK_PORT) else None  # None: any free port
    management_port = KEYCLOAK_MANAGEMENT_PORT if port_is_free(KEYCLOAK_MANAGEMENT_PORT) else None
    keycloak = KeycloakServer(http_port=http_port, management_port=management_port)
    print(f"Starting Keycloak {KEYCLOAK_VERSION} on port {keycloak.http_port} (the first run fetches it with Maven)")
    print(f"  log: {keycloak.log_path}", flush=True)
    try:
        keycloak.start()
        # The example reads its configuration from the environment, as in production.
        os.environ.update(
            KEYCLOAK_PUBLIC_URL=keycloak.public_url,  # what browsers use, and tokens' `iss`
            KEYCLOAK_INTERNAL_URL=keycloak.internal_url,  # what the service uses to reach Keycloak
            KEYCLOAK_REALM="demo",
            KEYCLOAK_AUDIENCE="api",
            KEYCLOAK_CLIENT_ID="shop-api",
            KEYCLOAK_CLIENT_SECRET=shop_api_secret(),
            SHOP_NOTIFY_URL=f"http://{APP_HOST}:{APP_PORT}",
            SHOP_LOGIN_CLIENT_SECRET=client_secret("shop-bff"),  # the pages' browser login
        )
        print(f"Keycloak ready in {keycloak.startup_seconds:.0f} s", flush=True)
        print(banner(keycloak), flush=True)
        uvicorn.run("example_app.main:create_app", factory=True, host=APP_HOST, port=APP_PORT)
    except KeycloakStartError as exc:
        print(f"Keycloak did not start: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        print("Stopping Keycloak ...", flush=True)
        keycloak.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
