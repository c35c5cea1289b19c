"""Browser login (backend-for-frontend) on Authlib: `pip install 'fastapi-kc[login]'`.

Keycloak's tokens stay on the server; the browser holds only a session cookie. See `BrowserLogin`.
The core of fastapi_kc never imports this package, nor Authlib or itsdangerous.
"""

try:
    import authlib  # noqa: F401
    import itsdangerous  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by the import-blocking test
    raise ImportError(
        f"fastapi_kc.login needs the 'login' extra ({exc.name} is missing): pip install 'fastapi-kc[login]'"
    ) from exc

from fastapi_kc.login._csrf import CsrfError
from fastapi_kc.login._login import BrowserLogin, SessionEndedError
from fastapi_kc.login._session import LoginSession
from fastapi_kc.login._store import MemorySessionStore, SessionStore

__all__ = ["BrowserLogin", "CsrfError", "LoginSession", "MemorySessionStore", "SessionEndedError", "SessionStore"]
