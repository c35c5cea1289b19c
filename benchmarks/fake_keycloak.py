"""A fake Keycloak realm: the endpoints our library and fastapi-keycloak-middleware call.

Two faces, same answers:
- ``FakeKeycloak.handler``: an async ``httpx.MockTransport`` handler that counts requests
  and can delay answers, for the counting scenarios (cold start, kid flood, service tokens);
- ``python -m benchmarks.fake_keycloak``: a threaded HTTP server on 127.0.0.1 (in its own
  process, so it takes no GIL from the process measured) for the framework scenarios, where
  fastapi-keycloak-middleware reaches Keycloak through python-keycloak's own HTTP client.
  It prints its port on the first line of stdout; ``GET /_stats`` returns the counters.

Endpoints: discovery, certs (JWKS), the realm page (``public_key``), the token endpoint
(client credentials), userinfo and introspection (answering like Keycloak for an active token).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from benchmarks import common

REALM_PATH = f"/realms/{common.REALM}"
CERTS_PATH = f"{REALM_PATH}/protocol/openid-connect/certs"
TOKEN_PATH = f"{REALM_PATH}/protocol/openid-connect/token"
DISCOVERY_PATH = f"{REALM_PATH}/.well-known/openid-configuration"


class Realm:
    """The realm's answers (pure: path in, status and JSON out)."""

    def __init__(self, internal_url: str) -> None:
        self.internal_url = internal_url
        self.jwks = common.jwks()
        self.public_key = common.public_key_b64_der()
        self._service_token: str | None = None
        self.counts: collections.Counter[str] = collections.Counter()

    def service_token(self) -> str:
        if self._service_token is None:
            now = int(time.time())
            payload = common.claims(0, now, 300)
            payload.update(
                {
                    "azp": common.CLIENT_ID,
                    "client_id": common.CLIENT_ID,
                    "preferred_username": f"service-account-{common.CLIENT_ID}",
                }
            )
            del payload["sid"]
            self._service_token = common.sign(payload, common.private_key())
        return self._service_token

    def answer(self, method: str, path: str) -> tuple[int, Any]:
        self.counts[path] += 1
        base = f"{self.internal_url}{REALM_PATH}/protocol/openid-connect"
        if path == DISCOVERY_PATH:
            return 200, {
                "issuer": common.ISSUER,
                "authorization_endpoint": f"{common.ISSUER}/protocol/openid-connect/auth",
                "token_endpoint": f"{base}/token",
                "introspection_endpoint": f"{base}/token/introspect",
                "userinfo_endpoint": f"{base}/userinfo",
                "end_session_endpoint": f"{base}/logout",
                "jwks_uri": f"{base}/certs",
                "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
                "response_types_supported": ["code"],
                "subject_types_supported": ["public", "pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        if path == CERTS_PATH:
            return 200, self.jwks
        if path == REALM_PATH:
            return 200, {
                "realm": common.REALM,
                "public_key": self.public_key,
                "token-service": f"{common.ISSUER}/protocol/openid-connect",
                "account-service": f"{common.ISSUER}/account",
                "tokens-not-before": 0,
            }
        if path == TOKEN_PATH and method == "POST":
            return 200, {
                "access_token": self.service_token(),
                "expires_in": 300,
                "refresh_expires_in": 0,
                "token_type": "Bearer",
                "not-before-policy": 0,
                "scope": "profile email",
            }
        if path.endswith("/token/introspect"):
            return 200, {"active": True, **common.claims(0, int(time.time()))}
        if path.endswith("/userinfo"):
            return 200, {"sub": common.claims(0, 0)["sub"], "preferred_username": "alice0"}
        return 404, {"error": "not_found"}


class FakeKeycloak:
    """In-process fake behind ``httpx.MockTransport``: counts requests, optional delays."""

    def __init__(self, internal_url: str = "http://keycloak.internal.test", delay: float = 0.0) -> None:
        self.realm = Realm(internal_url)
        self.internal_url = internal_url
        self.delay = delay
        self.jwks_override: dict[str, Any] | None = None

    @property
    def counts(self) -> collections.Counter[str]:
        return self.realm.counts

    @property
    def jwks_fetches(self) -> int:
        return self.realm.counts[CERTS_PATH]

    @property
    def token_requests(self) -> int:
        return self.realm.counts[TOKEN_PATH]

    async def handler(self, request: httpx.Request) -> httpx.Response:
        status, body = self.realm.answer(request.method, request.url.path)
        if request.url.path == CERTS_PATH and self.jwks_override is not None:
            body = self.jwks_override
        if self.delay:
            await asyncio.sleep(self.delay)
        return httpx.Response(status, json=body)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))


def serve(port: int = 0) -> None:
    """Serve the realm over HTTP on 127.0.0.1 until stdin closes (or the process is killed)."""
    holder: dict[str, Realm] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            path = self.path.split("?", 1)[0]
            if path == "/_stats":
                status, body = 200, dict(holder["realm"].counts)
            else:
                status, body = holder["realm"].answer(method, path)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._reply("GET")

        def do_POST(self) -> None:
            self._reply("POST")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    holder["realm"] = Realm(f"http://127.0.0.1:{server.server_address[1]}")
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()  # the parent closes our stdin (or exits) to stop us
    server.shutdown()


@contextlib.contextmanager
def running_server() -> Iterator[str]:
    """Start the HTTP fake in a child process; yields its base URL (http://127.0.0.1:PORT)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.fake_keycloak"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=common.ROOT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def server_stats(base_url: str) -> dict[str, int]:
    return dict(httpx.get(f"{base_url}/_stats", timeout=5).json())


if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
