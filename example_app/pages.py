"""Server-rendered pages with browser login (`fastapi_kc.login`): the tokens never reach the browser.

    GET  /                 anyone: a link to log in
    GET  /hello            a signed-in user: "Hello mario", a Buy button, a WebSocket, Log out
    GET  /auth/login       to Keycloak's login page (authorization code + PKCE, confidential client `shop-bff`)
    GET  /auth/callback    back from Keycloak: the session starts, the cookie holds only its id
    POST /auth/refresh     refresh the access token now (CSRF-checked)
    POST /auth/logout      end the session here and at Keycloak (CSRF-checked form)

/hello is not a public path: `KeycloakMiddleware(credentials=login.credentials)` signs the request in
from the session cookie, through the same verification as a bearer token. The Buy button posts to
/checkout with the session's CSRF token in `X-CSRF-Token`; the WebSocket is /ws, signed in by the
cookie too, its Origin checked.
"""

from html import escape

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from fastapi_kc import Principal
from fastapi_kc.login import BrowserLogin

_STYLE = "body{font-family:sans-serif;margin:3em auto;max-width:40em}"


def _page(title: str, body: str) -> HTMLResponse:
    html = f"<!doctype html><html><head><meta charset=utf-8><title>{escape(title)}</title>"
    html += f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    # Pages that show who is signed in must not be cached (the back button after logout).
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


_SCRIPT = """
const csrf = document.querySelector('meta[name=csrf-token]').content;
document.getElementById('buy').onclick = async () => {
  const response = await fetch('/checkout', {method: 'POST', headers: {'X-CSRF-Token': csrf}});
  document.getElementById('bought').textContent = response.status + ' ' + (await response.json()).status;
};
const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/ws');
ws.onmessage = (event) => {
  document.getElementById('ws').textContent = 'ws: ' + JSON.parse(event.data).hello;
  ws.close();
};
"""


def add_pages(app: FastAPI, login: BrowserLogin) -> None:
    """The two pages; `login.router` is mounted by the caller."""

    @app.get("/", include_in_schema=False)
    async def home() -> HTMLResponse:
        return _page(
            "Example shop", '<h1>Example shop</h1><p><a id="login" href="/auth/login?next=/hello">Log in</a></p>'
        )

    @app.get("/hello", include_in_schema=False)
    async def hello(request: Request) -> HTMLResponse:
        user: Principal = request.user
        csrf = login.csrf_token(request) or ""
        body = f'<meta name="csrf-token" content="{escape(csrf)}">'
        body += f'<h1 id="greeting">Hello {escape(user.username or user.subject)}</h1>'
        body += '<p><button id="buy">Buy</button> <span id="bought"></span></p><p id="ws"></p>'
        body += '<form method="post" action="/auth/logout">'
        body += (
            f'<input type="hidden" name="csrf_token" value="{escape(csrf)}"><button id="logout">Log out</button></form>'
        )
        body += f"<script>{_SCRIPT}</script>"
        return _page("Hello", body)
