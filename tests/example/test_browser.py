"""A person in a real browser: Swagger UI, "Authorize", Keycloak's login page, then a call.

Headless Chromium from Debian (`/usr/bin/chromium`, installed by `make browser-deps`) driven by
Playwright, with a fresh profile per user. Nothing is faked: the login page is Keycloak's, the
redirect comes back to Swagger UI (authorization code + PKCE, public client `web`), and the
token Swagger UI sends is the one Keycloak issued. On failure a screenshot of every open page
goes to `test-artifacts/`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, Route, expect, sync_playwright

from tests.example.conftest import ServedApp, password_of

pytestmark = [pytest.mark.browser, pytest.mark.keycloak]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: run `make browser-deps` (Debian's chromium) before the browser tests")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def browser(playwright: Playwright, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    """A fresh Chromium profile (no Keycloak session cookie from another test)."""
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 1000},
    )
    context.set_default_timeout(TIMEOUT_MS)
    # Nothing but this machine: a page that reaches for a CDN would hang here and break offline.
    elsewhere: list[str] = []

    def only_local(route: Route) -> None:
        if urlsplit(route.request.url).hostname in ("localhost", "127.0.0.1"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    yield context
    report = getattr(request.node, "report_call", None)
    if report is None or report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        for number, page in enumerate(context.pages):
            if not page.is_closed():
                page.screenshot(path=ARTIFACTS / f"{request.node.name}-{number}.png", full_page=True)
    context.close()
    assert not elsewhere, f"the pages tried to reach other hosts: {elsewhere}"


def log_in_through_swagger_ui(context: BrowserContext, app: ServedApp, username: str) -> Page:
    """Open /docs, press Authorize, sign in on Keycloak's page; return the Swagger UI page."""
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(f"{app.url}/docs")
    page.get_by_role("button", name="Authorize").first.click()
    # The dialog offers both schemes; the OAuth2 one is prefilled with client_id `web` and no secret.
    login = page.locator(".auth-container").filter(has_text="KeycloakLogin")
    expect(login.locator("input[data-name=clientId]")).to_have_value("web")
    expect(login.locator("input[data-name=clientSecret]")).to_have_value("")  # a public client: no secret
    with page.expect_popup() as popup_info:
        login.get_by_role("button", name="Apply given OAuth2 credentials").click()
    keycloak_page = popup_info.value
    keycloak_page.wait_for_load_state()
    # Keycloak's own login page, at its PUBLIC address.
    assert keycloak_page.url.startswith(f"{app.keycloak.public_url}/realms/demo/protocol/openid-connect/auth"), (
        keycloak_page.url
    )
    keycloak_page.locator("#username").fill(username)
    keycloak_page.locator("#password").fill(password_of(username))
    # Swagger UI's oauth2-redirect page hands the code back and closes the popup, often faster than
    # a wait registered after the click would see: listen before clicking.
    with keycloak_page.expect_event("close"):
        keycloak_page.locator("#kc-login").click()
    expect(login.locator("button", has_text="Logout")).to_be_visible()
    login.locator("button.btn-done").click()
    return page


def call_from_swagger_ui(page: Page, method: str, path: str) -> tuple[str, str]:
    """Expand the operation, Try it out, Execute; return (status code, response body) as shown."""
    operation = page.locator(".opblock").filter(
        has=page.locator(".opblock-summary-path", has_text=re.compile(rf"^{re.escape(path)}$"))
    )
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    response = operation.locator(".live-responses-table .response").first
    expect(response).to_be_visible()
    status = response.locator(".response-col_status").inner_text().split()[0]  # "403 Undocumented"
    body = response.locator(".response-col_description").inner_text()
    return status, body


def test_mario_signs_in_through_swagger_ui_and_sees_himself(browser: BrowserContext, served_app: ServedApp) -> None:
    page = log_in_through_swagger_ui(browser, served_app, "mario")
    status, body = call_from_swagger_ui(page, "GET", "/me")
    assert status == "200", body
    assert '"name": "Mario Rossi"' in body
    assert '"username": "mario"' in body


def test_luigi_signs_in_but_may_not_open_admin(browser: BrowserContext, served_app: ServedApp) -> None:
    page = log_in_through_swagger_ui(browser, served_app, "luigi")
    status, body = call_from_swagger_ui(page, "GET", "/admin")
    assert status == "403", body
    assert "requires realm role(s) admin" in body


def log_in_to_the_pages(context: BrowserContext, app: ServedApp, username: str) -> Page:
    """Open the shop's home page, follow "Log in", sign in on Keycloak's page; return the /hello page."""
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(f"{app.url}/")
    page.locator("#login").click()
    # Keycloak's own login page, at its PUBLIC address, for the confidential client of the pages.
    page.wait_for_url(re.compile(rf"^{re.escape(app.keycloak.public_url)}/realms/demo/protocol/openid-connect/auth\?"))
    assert "client_id=shop-bff" in page.url
    assert "code_challenge_method=S256" in page.url
    page.locator("#username").fill(username)
    page.locator("#password").fill(password_of(username))
    page.locator("#kc-login").click()
    page.wait_for_url(f"{app.url}/hello")
    return page


def test_mario_logs_in_to_the_pages_is_greeted_and_logs_out(browser: BrowserContext, served_app: ServedApp) -> None:
    page = log_in_to_the_pages(browser, served_app, "mario")
    expect(page.locator("#greeting")).to_have_text("Hello mario")
    expect(page.locator("#ws")).to_have_text("ws: mario")  # the page's WebSocket, signed in by the cookie
    # The browser holds one cookie, with no token in it; the tokens stayed on the server.
    cookies = {cookie["name"]: cookie for cookie in browser.cookies(served_app.url)}
    assert set(cookies) == {"fastapi_kc_session"}
    session = cookies["fastapi_kc_session"]
    assert (session["httpOnly"], session["sameSite"]) == (True, "Lax")
    assert page.evaluate("document.cookie") == ""  # out of reach of the page's scripts
    page.locator("#buy").click()  # a POST carrying the session's CSRF token
    expect(page.locator("#bought")).to_have_text("200 paid")

    page.locator("#logout").click()
    # Via Keycloak's end-session endpoint, and back to the home page (with the logout's `state`).
    page.wait_for_url(re.compile(rf"^{re.escape(served_app.url)}/(\?state=[\w-]+)?$"))
    refused = page.goto(f"{served_app.url}/hello")
    assert refused is not None and refused.status == 401
    # An old copy of the cookie (stolen before the logout) opens nothing either.
    browser.add_cookies([{"name": "fastapi_kc_session", "value": session["value"], "url": served_app.url}])
    replayed = page.goto(f"{served_app.url}/hello")
    assert replayed is not None and replayed.status == 401
    assert "the login session has ended" in replayed.text()
    # Keycloak's session ended too: logging in again asks for the password.
    page.goto(f"{served_app.url}/auth/login?next=/hello")
    expect(page.locator("#username")).to_be_visible()


FETCH_CHECKOUT = """async (headers) => {
    const response = await fetch('/checkout', {method: 'POST', headers: headers});
    return [response.status, (await response.json()).detail];
}"""


def test_a_post_without_the_csrf_token_is_refused(browser: BrowserContext, served_app: ServedApp) -> None:
    page = log_in_to_the_pages(browser, served_app, "mario")
    # What a forged request can do at best: the browser adds the cookie, but the token is unknown.
    status, detail = page.evaluate(FETCH_CHECKOUT, {"X-CSRF-Token": "guessed"})
    assert (status, detail) == (403, "the CSRF token does not match this session")
    status, detail = page.evaluate(FETCH_CHECKOUT, {})
    assert (status, detail) == (403, "the CSRF token is missing (header X-CSRF-Token)")
    expect(page.locator("#greeting")).to_have_text("Hello mario")  # the session itself is unharmed
