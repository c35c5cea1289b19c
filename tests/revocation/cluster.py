"""Real replicas for the end-to-end revocation tests: the example app under uvicorn, as separate
processes sharing only Redis and Keycloak, and a recorder Keycloak's logout calls go through."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from keycloak_dev import KeycloakServer
from tests.integration.conftest import SECRETS
from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]


KEY_COOLDOWN_SECONDS = 1


class Replica:
    """`example_app.main:create_app` under uvicorn on its own port, with back-channel logout and Redis."""

    def __init__(self, keycloak: KeycloakServer, redis_url: str) -> None:
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KEYCLOAK_")}
        self.env.update(
            KEYCLOAK_PUBLIC_URL=keycloak.public_url,
            KEYCLOAK_INTERNAL_URL=keycloak.internal_url,
            KEYCLOAK_REALM="demo",
            KEYCLOAK_AUDIENCE="api",
            KEYCLOAK_CLIENT_ID="shop-api",
            KEYCLOAK_CLIENT_SECRET=SECRETS["shop-api"],
            KEYCLOAK_LOGOUT_AUDIENCE="web",
            KEYCLOAK_REVOCATION_STORE=redis_url,
            # A key added to the realm by a test is learnt by the first token that names it, at
            # most one second after the replicas' last fetch (the default cooldown is 30 s).
            KEYCLOAK_JWKS_COOLDOWN_SECONDS=str(KEY_COOLDOWN_SECONDS),
            SHOP_NOTIFY_URL=self.url,
        )
        self.log_path = Path(tempfile.mkstemp(prefix="replica-", suffix=".log")[1])
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Replica:
        command = [sys.executable, "-m", "uvicorn", "--factory", "example_app.main:create_app",
                   "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]  # fmt: skip
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"replica exited at start-up:\n{self.log_path.read_text()[-3000:]}")
            if self.get("/health")[0] == 200:
                return self
            time.sleep(0.1)
        raise RuntimeError(f"replica not ready in 60 s:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(timeout=20)

    def restart(self) -> Replica:
        self.stop()
        return self.start()

    def get(self, path: str, token: str | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path)  # noqa: S310 - a local replica
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - a local replica
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:
            return 0, b""

    def post_form(self, path: str, form: dict[str, str]) -> tuple[int, bytes]:
        data = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(self.url + path, data=data, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - a local replica
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


class LogoutRecorder:
    """Where Keycloak sends logout tokens: records each, then forwards it to `target` (or, when
    `hold` is set, keeps it unused and answers 200, so a test holds a genuine unused token)."""

    def __init__(self, target: Replica) -> None:
        self.target = target
        self.hold = False
        self.calls: list[tuple[str, int, bytes]] = []  # (logout token, replica's status, its body)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/backchannel-logout"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                token = urllib.parse.parse_qs(body.decode())["logout_token"][0]
                if recorder.hold:
                    status, answer = 200, b""
                else:
                    status, answer = recorder.target.post_form("/backchannel-logout", {"logout_token": token})
                recorder.calls.append((token, status, answer))
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        return Handler


class RealmAdmin:
    """The few admin-API calls the tests need, on realm `demo`."""

    def __init__(self, keycloak: KeycloakServer) -> None:
        self.keycloak = keycloak

    def client(self, client_id: str) -> dict[str, Any]:
        found = self.keycloak.admin("GET", f"demo/clients?clientId={client_id}")
        return dict(self.keycloak.admin("GET", f"demo/clients/{found[0]['id']}"))

    def set_client_attributes(self, client_id: str, **attributes: str) -> None:
        client = self.client(client_id)
        client["attributes"] = {**client.get("attributes", {}), **attributes}
        self.keycloak.admin("PUT", f"demo/clients/{client['id']}", client)

    def logout(self, username: str) -> None:
        user = self.keycloak.admin("GET", f"demo/users?username={username}&exact=true")[0]
        self.keycloak.admin("POST", f"demo/users/{user['id']}/logout")

    def create_realm(self, realm: dict[str, Any]) -> None:
        request = urllib.request.Request(  # noqa: S310 - the local Keycloak
            f"{self.keycloak.internal_url}/admin/realms", data=json.dumps(realm).encode(), method="POST",
            headers={"Authorization": f"Bearer {self.keycloak.admin_token()}", "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=60):  # noqa: S310
            pass
