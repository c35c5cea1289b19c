"""docker-compose.yml and the Dockerfile, checked against what the tests really run.

No Docker engine runs here, so the compose file is read as data: the Keycloak image is the version
`keycloak_dev` pins, the realm is the same file, the public/internal URL split is the one the field
notes ask for, and the app's environment builds valid `KeycloakSettings`.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

import keycloak_dev
from fastapi_kc import KeycloakSettings

ROOT = Path(__file__).resolve().parents[2]
IMPORT_DIR = "/opt/keycloak/data/import"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def keycloak(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]["keycloak"]


@pytest.fixture(scope="module")
def app(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]["app"]


@pytest.fixture(scope="module")
def app_env(app: dict[str, Any]) -> dict[str, str]:
    env = app["environment"]
    assert isinstance(env, dict), "write the app's environment as a mapping"
    return {name: str(value) for name, value in env.items()}


@pytest.fixture(scope="module")
def realm() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "keycloak_dev" / "realm-demo.json").read_text())
    return data


def _client(realm: dict[str, Any], client_id: str) -> dict[str, Any]:
    return next(c for c in realm["clients"] if c["clientId"] == client_id)


def _command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def test_keycloak_is_the_official_image_at_the_pinned_version(keycloak: dict[str, Any]) -> None:
    assert keycloak["image"] == f"quay.io/keycloak/keycloak:{keycloak_dev.KEYCLOAK_VERSION}"


def test_keycloak_runs_in_development_mode_and_imports_the_realm(keycloak: dict[str, Any]) -> None:
    command = _command(keycloak)
    assert command[0] == "start-dev"
    assert "--import-realm" in command


def test_keycloak_imports_the_same_realm_file_as_the_tests(keycloak: dict[str, Any]) -> None:
    mounts = [str(volume).split(":") for volume in keycloak["volumes"]]
    realm_mounts = [m for m in mounts if m[1].startswith(IMPORT_DIR + "/")]
    assert len(realm_mounts) == 1, mounts
    source = (ROOT / realm_mounts[0][0]).resolve()
    assert source == (ROOT / "keycloak_dev" / "realm-demo.json").resolve()
    assert source.is_file()
    assert realm_mounts[0][1].endswith(".json")


def test_keycloak_public_hostname_and_dynamic_back_channel(keycloak: dict[str, Any]) -> None:
    env = {name: str(value) for name, value in keycloak["environment"].items()}
    assert env["KC_HOSTNAME"] == "http://localhost:8080"
    assert env["KC_HOSTNAME_BACKCHANNEL_DYNAMIC"] == "true"
    assert env["KC_HEALTH_ENABLED"] == "true"
    assert "8080:8080" in [str(port) for port in keycloak["ports"]]


def test_keycloak_healthcheck_asks_the_management_port(keycloak: dict[str, Any]) -> None:
    test = keycloak["healthcheck"]["test"]
    text = " ".join(test) if isinstance(test, list) else str(test)
    assert "9000" in text, "Keycloak serves /health on its management port, 9000"
    assert "/health/ready" in text


def test_app_is_built_from_the_repository_dockerfile(app: dict[str, Any]) -> None:
    build = app["build"]
    context = build if isinstance(build, str) else build["context"]
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (ROOT / context).resolve() == ROOT
    assert (ROOT / context / dockerfile).is_file()
    assert "8000:8000" in [str(port) for port in app["ports"]]


def test_app_waits_for_a_healthy_keycloak(app: dict[str, Any]) -> None:
    assert app["depends_on"]["keycloak"]["condition"] == "service_healthy"


def test_app_uses_the_public_url_for_the_issuer_and_the_service_name_for_the_back_channel(
    app_env: dict[str, str], keycloak: dict[str, Any]
) -> None:
    kc_env = {name: str(value) for name, value in keycloak["environment"].items()}
    assert app_env["KEYCLOAK_PUBLIC_URL"] == kc_env["KC_HOSTNAME"] == "http://localhost:8080"
    internal = urlsplit(app_env["KEYCLOAK_INTERNAL_URL"])
    # Inside the app's container `localhost` is the container itself: Keycloak is its service name.
    assert (internal.scheme, internal.hostname, internal.port) == ("http", "keycloak", 8080)


def test_app_environment_builds_valid_settings_for_the_realm(
    app_env: dict[str, str], realm: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in app_env.items():
        monkeypatch.setenv(name, value)
    settings = KeycloakSettings()
    assert settings.issuer == f"http://localhost:8080/realms/{realm['realm']}"
    assert str(settings.internal_url).rstrip("/") == "http://keycloak:8080"
    assert settings.client_id == "shop-api"
    # The secret must be the one the realm file gives the confidential client `shop-api`.
    secret = settings.client_secret.get_secret_value() if settings.client_secret else None
    assert secret == _client(realm, "shop-api")["secret"]


def test_the_pages_login_secret_is_the_realms_for_shop_bff(app_env: dict[str, str], realm: dict[str, Any]) -> None:
    assert app_env["SHOP_LOGIN_CLIENT_SECRET"] == _client(realm, "shop-bff")["secret"]
    assert len(app_env["SHOP_SESSION_SECRET"]) >= 32


def test_swagger_ui_origin_is_allowed_by_the_web_client(realm: dict[str, Any]) -> None:
    web = _client(realm, "web")
    assert web.get("publicClient") is True, "Swagger UI holds no secret: `web` must be public"
    assert "http://localhost:8000/*" in web["redirectUris"]


def test_dockerfile_installs_the_package_and_runs_the_example_app() -> None:
    text = (ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0].startswith("FROM python:3.1")
    assert any(line.startswith("COPY fastapi_kc") for line in lines)
    assert any(line.startswith("COPY example_app") for line in lines)
    install = r'RUN pip install (\S+ )*"?\.(\[(?P<extras>[a-z,]+)\])?"?( |$)'
    matches = [m for line in lines if (m := re.match(install, line))]
    assert matches, "install the package"
    # The replicas share revocations through Redis: the image needs the `redis` extra; the pages'
    # browser login needs `login`; its /metrics needs `prometheus`.
    assert {"redis", "login", "prometheus"} <= set((matches[0].group("extras") or "").split(","))
    cmd = next(line for line in lines if line.startswith("CMD "))
    argv = json.loads(cmd[len("CMD ") :])
    assert argv[0] == "uvicorn"
    assert "example_app.main:create_app" in argv and "--factory" in argv
    assert argv[argv.index("--port") + 1] == "8000"
    assert argv[argv.index("--host") + 1] == "0.0.0.0"


def test_dockerignore_keeps_local_environments_out_of_the_image() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for path in (".venv", ".cache", ".git"):
        assert path in ignored


def test_two_replicas_of_the_same_app_share_redis(compose: dict[str, Any], app: dict[str, Any]) -> None:
    services = compose["services"]
    replica = services["app-2"]
    assert replica["build"] == app["build"]
    assert replica["environment"] == app["environment"]
    assert [str(p) for p in replica["ports"]] == ["8001:8000"]
    redis_host = urlsplit(app["environment"]["KEYCLOAK_REVOCATION_STORE"])
    assert (redis_host.scheme, redis_host.hostname) == ("redis", "redis")
    assert "redis" in services and str(services["redis"]["image"]).startswith("redis:")
    for service in (app, replica):
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"


def test_keycloak_sends_logouts_of_the_web_client_to_either_replica(
    compose: dict[str, Any], keycloak: dict[str, Any], app: dict[str, Any], realm: dict[str, Any]
) -> None:
    web = _client(realm, "web")
    # The realm file names the URL by a placeholder Keycloak fills at import: empty for the tests'
    # own Keycloak (they set the URL through the admin API), the replicas' shared name here.
    assert web["attributes"]["backchannel.logout.url"] == "${WEB_BACKCHANNEL_LOGOUT_URL:}"
    assert web["attributes"]["backchannel.logout.session.required"] == "true"
    url = urlsplit(str(keycloak["environment"]["WEB_BACKCHANNEL_LOGOUT_URL"]))
    assert url.path == "/backchannel-logout"
    assert url.port == 8000
    for name in ("app", "app-2"):
        assert url.hostname in compose["services"][name]["networks"]["default"]["aliases"]


def test_the_replicas_honour_logouts_of_the_client_keycloak_addresses_them_to(
    app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in app_env.items():
        monkeypatch.setenv(name, value)
    settings = KeycloakSettings()
    assert settings.logout_audience == ("web",)
    assert "web" not in settings.audience  # web's access tokens are not for the API
