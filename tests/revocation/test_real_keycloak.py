"""Revocation end to end, against the real Keycloak and a real Redis: two replicas of the example
app (separate uvicorn processes sharing only Redis), Keycloak's own logout tokens, its admin API,
and its introspection endpoint."""

from __future__ import annotations

import base64
import datetime
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from fastapi_kc import AuthError, KeycloakAuth, Principal
from keycloak_dev import KeycloakServer
from tests.integration.conftest import CountingProxy, settings_for, user_token, verify
from tests.revocation.cluster import KEY_COOLDOWN_SECONDS, LogoutRecorder, RealmAdmin, Replica
from tests.revocation.support import eventually
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.keycloak


class Cluster:
    def __init__(self, keycloak: KeycloakServer, a: Replica, b: Replica, recorder: LogoutRecorder) -> None:
        self.keycloak, self.a, self.b, self.recorder = keycloak, a, b, recorder
        self.admin = RealmAdmin(keycloak)
        self._logged_out_at: dict[str, float] = {}

    def logout(self, username: str) -> None:
        """An administrator logs `username` out (Keycloak sends the logout tokens before returning)."""
        self.admin.logout(username)
        self._logged_out_at[username] = time.time()

    def login(self, username: str, client_id: str = "web") -> str:
        """A new access token of `username`. A logout revokes the subject's tokens issued up to its
        second (`iat` has whole seconds): a login in that same second would be refused too, so a
        login right after a logout waits for the next second."""
        logged_out = self._logged_out_at.get(username)
        if logged_out is not None and int(time.time()) <= int(logged_out):
            time.sleep(int(logged_out) + 1.02 - time.time())
        return user_token(self.keycloak, username, client_id=client_id)

    def statuses(self, token: str) -> tuple[int, int]:
        return self.a.get("/me", token)[0], self.b.get("/me", token)[0]

    def end_earlier_sessions(self, username: str) -> None:
        """End the sessions earlier tests left for `username`, without telling the replicas
        (their logout tokens are held, unused), so that a test sees only its own."""
        self.recorder.hold = True
        try:
            self.logout(username)
        finally:
            self.recorder.hold = False

    def logouts_since(self, calls: int, audience: str) -> list[tuple[str, int, bytes]]:
        return [call for call in self.recorder.calls[calls:] if _claims(call[0])["aud"] == audience]


@pytest.fixture(scope="module")
def cluster(keycloak: KeycloakServer) -> Iterator[Cluster]:
    redis = RedisServer().start()
    a = Replica(keycloak, redis.url).start()
    b = Replica(keycloak, redis.url).start()
    recorder = LogoutRecorder(a)
    admin = RealmAdmin(keycloak)
    # The realm file's placeholder was filled at import: no URL for the tests' own Keycloak.
    assert admin.client("web")["attributes"].get("backchannel.logout.url", "") == ""
    admin.set_client_attributes("web", **{"backchannel.logout.url": recorder.url})
    try:
        yield Cluster(keycloak, a, b, recorder)
    finally:
        admin.set_client_attributes("web", **{"backchannel.logout.url": ""})
        admin.set_client_attributes("legacy-portal", **{"backchannel.logout.url": ""})
        recorder.close()
        a.stop()
        b.stop()
        redis.close()


def test_an_admin_logout_reaches_both_replicas_within_a_second_and_spares_luigi(cluster: Cluster) -> None:
    cluster.end_earlier_sessions("mario")
    mario = cluster.login("mario")
    luigi = cluster.login("luigi")
    assert cluster.statuses(mario) == cluster.statuses(luigi) == (200, 200)
    calls = len(cluster.recorder.calls)

    cluster.logout("mario")  # Keycloak sends the logout token before this call returns

    assert [status for _, status, _ in cluster.logouts_since(calls, "web")] == [200]  # received by replica a
    assert eventually(lambda: cluster.statuses(mario) == (401, 401), within=1.0)
    _, body = cluster.b.get("/me", mario)
    assert json.loads(body)["detail"] == "session ended"
    assert cluster.statuses(luigi) == (200, 200)


def test_an_open_websocket_of_mario_is_closed_with_1008_after_his_logout(cluster: Cluster) -> None:
    mario = cluster.login("mario")
    url = f"ws://127.0.0.1:{cluster.b.port}/ws"
    with connect(url, additional_headers={"Authorization": f"Bearer {mario}"}, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10)) == {"hello": "mario"}
        cluster.logout("mario")  # received by replica a; this socket is on replica b
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert "session ended" in closed.value.rcvd.reason


def test_a_replica_restarted_after_the_logout_still_refuses_from_what_redis_holds(cluster: Cluster) -> None:
    mario = cluster.login("mario")
    luigi = cluster.login("luigi")
    cluster.logout("mario")
    assert eventually(lambda: cluster.statuses(mario) == (401, 401), within=1.0)

    cluster.b.restart()

    assert cluster.b.get("/me", mario)[0] == 401
    assert cluster.b.get("/me", luigi)[0] == 200


def _unsigned(token: str) -> str:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "logout+jwt"}).encode()).rstrip(b"=")
    return f"{header.decode()}.{token.split('.')[1]}."


def test_replayed_or_unsigned_logout_tokens_are_refused_with_400_and_revoke_nothing(cluster: Cluster) -> None:
    cluster.end_earlier_sessions("mario")
    mario = cluster.login("mario")
    calls = len(cluster.recorder.calls)
    cluster.end_earlier_sessions("mario")  # keeps Keycloak's genuine logout token unused
    [(genuine, _, _)] = cluster.logouts_since(calls, "web")

    for forged in (genuine.rsplit(".", 1)[0] + ".", _unsigned(genuine), genuine[:-8] + "AAAAAAAA"):
        status, body = cluster.a.post_form("/backchannel-logout", {"logout_token": forged})
        assert (status, json.loads(body)["error"]) == (400, "invalid_request")
    time.sleep(1.0)  # what a revocation would need to propagate (none must)
    assert cluster.statuses(mario) == (200, 200)

    assert cluster.a.post_form("/backchannel-logout", {"logout_token": genuine})[0] == 200
    assert eventually(lambda: cluster.statuses(mario) == (401, 401), within=1.0)
    assert cluster.a.post_form("/backchannel-logout", {"logout_token": genuine})[0] == 400  # replay, same replica
    assert cluster.b.post_form("/backchannel-logout", {"logout_token": genuine})[0] == 400  # replay, other replica


def test_a_logout_token_for_another_client_is_refused_with_400_and_revokes_nothing(cluster: Cluster) -> None:
    # Keycloak addresses a logout token to the client the session used: here legacy-portal, which
    # is not in KEYCLOAK_LOGOUT_AUDIENCE (web). Its token still opens the API (it has the api audience).
    cluster.end_earlier_sessions("admin")  # e.g. a web session, whose valid logout would revoke admin
    cluster.admin.set_client_attributes("legacy-portal", **{"backchannel.logout.url": cluster.recorder.url})
    admin = cluster.login("admin", client_id="legacy-portal")
    calls = len(cluster.recorder.calls)

    cluster.logout("admin")

    [(token, status, body)] = cluster.recorder.calls[calls:]
    assert _claims(token)["aud"] == "legacy-portal"
    assert status == 400
    assert "logout_audience" in json.loads(body)["error_description"]
    time.sleep(1.0)  # what a revocation would need to propagate (none must)
    assert cluster.statuses(admin) == (200, 200)


def test_a_logout_token_of_another_issuer_is_refused_with_400_and_revokes_nothing(cluster: Cluster) -> None:
    # A realm `other` signs with a key that realm `demo` also publishes (added at a low priority,
    # so demo still signs with its own): other's logout tokens pass the replicas' signature check,
    # and their issuer is all that tells them apart. (User ids are unique across realms, so its
    # mario cannot share demo's mario's `sub`; the unit tests show a wrong-issuer token with the
    # very sid and sub of a live session revoking nothing.)
    mario = cluster.login("mario")
    with shared_key_realm(cluster) as other:
        cluster.keycloak.token("web", username="mario", password="other-password", realm="other")
        calls = len(cluster.recorder.calls)

        other.logout("mario")

    [(token, status, body)] = cluster.recorder.calls[calls:]
    assert _claims(token)["iss"] == f"{cluster.keycloak.public_url}/realms/other"
    assert status == 400
    assert "issuer" in json.loads(body)["error_description"]
    time.sleep(1.0)  # what a revocation would need to propagate (none must)
    assert cluster.statuses(mario) == (200, 200)


@contextmanager
def shared_key_realm(cluster: Cluster) -> Iterator[RealmAdmin]:
    keycloak = cluster.keycloak
    private, certificate = _key_and_certificate()
    key_config = {"privateKey": [private], "certificate": [certificate], "active": ["true"], "enabled": ["true"],
                  "algorithm": ["RS256"]}  # fmt: skip
    demo_id = keycloak.admin("GET", "demo")["id"]
    keycloak.admin("POST", "demo/components", {"name": "shared-with-other", "providerId": "rsa",
                   "providerType": "org.keycloak.keys.KeyProvider", "parentId": demo_id,
                   "config": {**key_config, "priority": ["1"]}})  # fmt: skip
    # Past the replicas' cooldown, the first token signed with the shared key makes them fetch it:
    # without this wait a fetch made just before the key existed could hide it from them.
    time.sleep(KEY_COOLDOWN_SECONDS + 0.2)
    web = {"clientId": "web", "publicClient": True, "directAccessGrantsEnabled": True,
           "attributes": {"backchannel.logout.url": cluster.recorder.url,
                          "backchannel.logout.session.required": "true"}}  # fmt: skip
    user = {"username": "mario", "enabled": True, "email": "mario@example.test",
            "firstName": "Mario", "lastName": "Rossi", "emailVerified": True,
            "credentials": [{"type": "password", "value": "other-password", "temporary": False}]}  # fmt: skip
    keys = {"org.keycloak.keys.KeyProvider": [{"name": "shared-with-demo", "providerId": "rsa",
                                              "config": {**key_config, "priority": ["1000"]}}]}  # fmt: skip
    cluster.admin.create_realm({"realm": "other", "enabled": True, "clients": [web], "users": [user],
                                "components": keys})  # fmt: skip
    try:
        yield OtherRealm(keycloak)
    finally:
        keycloak.admin("DELETE", "other")
        shared = keycloak.admin("GET", "demo/components?name=shared-with-other")
        for component in shared:
            keycloak.admin("DELETE", f"demo/components/{component['id']}")


class OtherRealm(RealmAdmin):
    def logout(self, username: str) -> None:
        user = self.keycloak.admin("GET", f"other/users?username={username}&exact=true")[0]
        self.keycloak.admin("POST", f"other/users/{user['id']}/logout")


def _key_and_certificate() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shared-test-key")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )  # fmt: skip
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    strip = lambda text: "".join(line for line in text.splitlines() if "-----" not in line)  # noqa: E731
    return strip(pem.decode()), strip(certificate.public_bytes(serialization.Encoding.PEM).decode())


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_require_active_refuses_an_ended_session_at_once_and_fails_closed_when_keycloak_is_down(
    keycloak: KeycloakServer,
) -> None:
    with CountingProxy(keycloak.internal_url) as proxy:
        auth = KeycloakAuth(settings_for(keycloak, internal_url=proxy.url))
        app = FastAPI(lifespan=auth.lifespan)

        @app.get("/me")
        async def me(user: Principal = Depends(auth.principal)) -> dict[str, Any]:
            return {"username": user.username}

        @app.get("/active")
        async def active(user: Principal = Depends(auth.require_active())) -> dict[str, Any]:
            return {"username": user.username}

        mario = user_token(keycloak, "mario")
        luigi = user_token(keycloak, "luigi")
        with TestClient(app) as client:

            def get(path: str, token: str) -> int:
                return client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code

            assert get("/active", luigi) == 200
            assert get("/me", mario) == 200
            RealmAdmin(keycloak).logout("mario")  # this app has no back-channel route: only introspection knows
            assert get("/active", mario) == 401
            assert get("/me", mario) == 200  # local verification alone cannot know
            assert proxy.count("POST", "/token/introspect") == 2

            proxy.__exit__()  # Keycloak unreachable from here on
            fresh = user_token(keycloak, "luigi")  # not in the introspection cache
            assert get("/active", fresh) == 503


def test_a_lightweight_access_token_is_accepted_when_every_request_is_introspected(keycloak: KeycloakServer) -> None:
    admin = RealmAdmin(keycloak)
    admin.set_client_attributes("legacy-portal", **{"client.use.lightweight.access.token.enabled": "true"})
    try:
        token = user_token(keycloak, "mario", client_id="legacy-portal")
    finally:
        admin.set_client_attributes("legacy-portal", **{"client.use.lightweight.access.token.enabled": "false"})
    assert "realm_access" not in _claims(token)  # lightweight: the roles only through introspection

    [local] = verify(settings_for(keycloak), token)
    [introspected] = verify(settings_for(keycloak, introspect_every_request=True), token)

    assert isinstance(local, AuthError)
    assert isinstance(introspected, Principal)
    assert introspected.username == "mario"
    assert introspected.has_role("customer")
    assert "api" in introspected.audience
