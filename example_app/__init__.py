"""The example shop API: every capability of fastapi_kc in one small FastAPI service.

Run it against a local Keycloak with `make demo`, or in containers with `docker compose up`.
`example_app.main:create_app` is a factory (`uvicorn --factory example_app.main:create_app`):
importing this package reads no environment and opens no connection.
"""
