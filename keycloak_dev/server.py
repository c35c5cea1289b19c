"""Fetch, start and stop the pinned Keycloak on 127.0.0.1, with the public/internal split.

Keycloak's `hostname` is set to `http://localhost:<port>` (the *public* URL: tokens carry it in
`iss`) and `hostname-backchannel-dynamic` is on, so a service reaching Keycloak at
`http://127.0.0.1:<port>` (the *internal* URL) gets internal URLs for keys and tokens while
tokens stay issued under `localhost`: the Docker/Kubernetes split of field notes §1, for real.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

KEYCLOAK_VERSION = "26.5.6"
ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{KEYCLOAK_VERSION}:zip"
REPO_ROOT = Path(__file__).resolve().parent.parent
REALM_FILE = Path(__file__).resolve().parent / "realm-demo.json"
CACHE = REPO_ROOT / ".cache" / "keycloak"
ADMIN_USER = "kc-admin"
ADMIN_PASSWORD = "kc-admin-password"  # test-only bootstrap admin of a local instance


class KeycloakStartError(RuntimeError):
    """Keycloak could not be fetched or did not become ready; the message says why."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def distribution() -> Path:
    """The unpacked distribution, fetched with Maven and unpacked once into `.cache/keycloak/`."""
    home = CACHE / f"keycloak-{KEYCLOAK_VERSION}"
    if (home / "bin" / "kc.sh").is_file():
        return home
    CACHE.mkdir(parents=True, exist_ok=True)
    zip_path = _fetch_zip()
    staging = Path(tempfile.mkdtemp(prefix="unpack-", dir=CACHE))
    try:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(staging)
        unpacked = staging / f"keycloak-{KEYCLOAK_VERSION}"
        for script in (unpacked / "bin").glob("*.sh"):
            script.chmod(0o755)
        unpacked.rename(home)  # atomic: an interrupted unpack never looks complete
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return home


def _fetch_zip() -> Path:
    repo = Path(os.environ.get("MAVEN_REPO", Path.home() / ".m2" / "repository"))
    zip_path = (
        repo / "org" / "keycloak" / "keycloak-quarkus-dist" / KEYCLOAK_VERSION
        / f"keycloak-quarkus-dist-{KEYCLOAK_VERSION}.zip"
    )  # fmt: skip
    if zip_path.is_file():
        return zip_path
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KeycloakStartError("Maven (mvn) is not installed: it fetches Keycloak from Maven Central")
    command = [mvn, "-B", "-q", "dependency:get", f"-Dartifact={ARTIFACT}", "-Dtransitive=false"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0 or not zip_path.is_file():
        output = f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
        raise KeycloakStartError(f"could not fetch {ARTIFACT} with Maven (exit {result.returncode}):\n{output}")
    return zip_path


class KeycloakServer:
    """One local Keycloak: `start()`, `stop()`, `restart()`, or `with KeycloakServer() as kc:`.

    Each instance has its own database folder (so runs never share state), kept across
    `stop()`/`start()` so the realm and its keys survive a restart, and removed by `close()`.
    """

    def __init__(self, http_port: int | None = None, management_port: int | None = None,
                 realm_file: Path = REALM_FILE, start_timeout: float = 240.0) -> None:  # fmt: skip
        self.http_port = http_port or free_port()
        self.management_port = management_port or free_port()
        self.realm_file = realm_file
        self.start_timeout = start_timeout
        self.workdir = Path(tempfile.mkdtemp(prefix="kc-", dir=_ensure(CACHE / "runs")))
        self.log_path = self.workdir / "keycloak.log"
        self.extra_options: list[str] = []
        self._process: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None

    # --- URLs ----------------------------------------------------------------------------

    @property
    def public_url(self) -> str:
        """What browsers use and what tokens carry in `iss`."""
        return f"http://localhost:{self.http_port}"

    @property
    def internal_url(self) -> str:
        """What a service uses to reach Keycloak (the back channel)."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}"

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> KeycloakServer:
        if self._process is not None and self._process.poll() is None:
            return self
        home = distribution()
        import_dir = self.workdir / "import"
        import_dir.mkdir(exist_ok=True)
        shutil.copy(self.realm_file, import_dir / "realm-demo.json")
        command = [
            str(home / "bin" / "kc.sh"), "start-dev",
            "--http-host=127.0.0.1", f"--http-port={self.http_port}",
            f"--http-management-port={self.management_port}",
            f"--hostname=http://localhost:{self.http_port}", "--hostname-backchannel-dynamic=true",
            "--health-enabled=true", "--db=dev-file",
            f"--db-url=jdbc:h2:file:{self.workdir / 'db' / 'keycloakdb'};NON_KEYWORDS=VALUE",
            "--import-realm", f"-Dkeycloak.migration.dir={import_dir}", *self.extra_options,
        ]  # fmt: skip
        # Only our options configure Keycloak: a stray KC_* or KEYCLOAK_* variable of the caller's
        # shell would silently change it.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KC_", "KEYCLOAK_"))}
        env.update(KC_BOOTSTRAP_ADMIN_USERNAME=ADMIN_USER, KC_BOOTSTRAP_ADMIN_PASSWORD=ADMIN_PASSWORD,
                   KC_DIR_IMPORT=str(import_dir))  # fmt: skip
        # start-dev rebuilds into the shared distribution folder: one start at a time (tests and
        # `make demo` may start instances together).
        with (CACHE / "start.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            log = self.log_path.open("ab")
            started = time.monotonic()
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                             start_new_session=True)  # fmt: skip
            log.close()
            self._wait_ready(started)
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def restart(self) -> KeycloakServer:
        self.stop()
        return self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> KeycloakServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _wait_ready(self, started: float) -> None:
        deadline = started + self.start_timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise KeycloakStartError(f"Keycloak exited during start-up; log {self.log_path}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.management_url}/health/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        self.stop()
        raise KeycloakStartError(
            f"Keycloak not ready after {self.start_timeout:.0f} s; log {self.log_path}:\n{self.log_tail()}"
        )

    # --- helpers for tests and the demo --------------------------------------------------

    def token(
        self,
        client_id: str,
        *,
        username: str | None = None,
        password: str | None = None,
        client_secret: str | None = None,
        scope: str | None = None,
        realm: str = "demo",
    ) -> dict[str, Any]:
        """A token response from `realm`, requested through the internal URL."""
        form = {"client_id": client_id}
        if username is not None:
            form.update(grant_type="password", username=username, password=password or "")
        else:
            form["grant_type"] = "client_credentials"
        if client_secret is not None:
            form["client_secret"] = client_secret
        if scope is not None:
            form["scope"] = scope
        return self._post_form(f"{self.internal_url}/realms/{realm}/protocol/openid-connect/token", form)

    def admin_token(self) -> str:
        form = {"grant_type": "password", "client_id": "admin-cli", "username": ADMIN_USER, "password": ADMIN_PASSWORD}
        return str(
            self._post_form(f"{self.internal_url}/realms/master/protocol/openid-connect/token", form)["access_token"]
        )

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call Keycloak's admin REST API (`path` below `/admin/realms/`)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.internal_url}/admin/realms/{path.lstrip('/')}", data=data, method=method,
            headers={"Authorization": f"Bearer {self.admin_token()}", "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
        return json.loads(text) if text else None

    @staticmethod
    def _post_form(url: str, form: dict[str, str]) -> dict[str, Any]:
        data = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(url, data=data, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            raise KeycloakStartError(f"POST {url} -> HTTP {exc.code}: {exc.read()[:500]!r}") from exc


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
