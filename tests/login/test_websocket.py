"""Browser WebSockets cannot set headers: the session cookie authenticates them, from allowed origins only."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.login.conftest import APP_URL, LoginApp, log_in


def handshake(browser: TestClient, origin: str | None) -> dict[str, str]:
    """A browser's handshake headers: its cookie (TestClient's jar does not follow ws:// URLs) and Origin."""
    headers = {"Cookie": f"fastapi_kc_session={browser.cookies['fastapi_kc_session']}"}
    return headers | ({"Origin": origin} if origin else {})


def test_a_websocket_from_the_apps_page_is_signed_in_by_the_cookie(browser: TestClient, shop: LoginApp) -> None:
    log_in(browser, shop)
    with browser.websocket_connect("/ws", headers=handshake(browser, APP_URL)) as ws:
        assert ws.receive_json() == {"hello": "mario"}


@pytest.mark.parametrize("origin", ["https://evil.example", "null", None])
def test_a_websocket_from_elsewhere_is_refused(browser: TestClient, shop: LoginApp, origin: str | None) -> None:
    log_in(browser, shop)
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        browser.websocket_connect("/ws", headers=handshake(browser, origin)),
    ):
        pass
    assert refused.value.code == 1008
    assert refused.value.reason.startswith("403 invalid_request")


def test_a_websocket_without_a_session_is_refused(browser: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect) as refused, browser.websocket_connect("/ws", headers={"Origin": APP_URL}):
        pass
    assert refused.value.code == 1008
