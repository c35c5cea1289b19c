"""Swagger UI at /docs from files this app serves itself, with Keycloak login preconfigured.

FastAPI's built-in /docs loads Swagger UI from a CDN, which machines without internet access (and
pages under a strict Content-Security-Policy) cannot reach. These routes are FastAPI's own
"self-hosting JavaScript and CSS for docs" recipe, with `init_oauth` from `auth.swagger_ui_oauth`.
With internet access, `FastAPI(swagger_ui_init_oauth=auth.swagger_ui_oauth("web"))` is all it takes.
"""

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(__file__).resolve().parent / "static" / "swagger-ui"
DOCS = "/docs"  # the middleware's public paths must include "/docs" and "/docs/*"


def add_swagger_ui(app: FastAPI, *, init_oauth: dict[str, Any]) -> None:
    """Serve Swagger UI at /docs (create the app with `docs_url=None`), its files at /docs/assets."""
    app.mount(f"{DOCS}/assets", StaticFiles(directory=ASSETS), name="swagger-ui-assets")
    # The page Keycloak redirects the browser back to after login; it must match a redirect URI of
    # the client (`http://localhost:8000/*` in the demo realm).
    redirect_path = f"{DOCS}/oauth2-redirect"

    @app.get(DOCS, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        # Behind a proxy that serves the app under a prefix (`--root-path`), every URL the page
        # loads must carry it, as in FastAPI's own /docs.
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url or '/openapi.json'}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS}/assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS}/assets/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS}/assets/favicon-32x32.png",
            oauth2_redirect_url=f"{root}{redirect_path}",
            init_oauth=init_oauth,
        )

    @app.get(redirect_path, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
