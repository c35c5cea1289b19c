# The example shop API (example_app) on the fastapi_kc library from this repository.
# Used by docker-compose.yml; tests/example/test_compose.py keeps the two in step.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /srv

# The library first (its layer changes less often than the example), then uvicorn with WebSocket support.
COPY pyproject.toml README.md ./
COPY fastapi_kc ./fastapi_kc
RUN pip install ".[redis,login,prometheus]" "uvicorn[standard]>=0.30"

COPY example_app ./example_app
USER nobody
EXPOSE 8000
# Settings come from the KEYCLOAK_* environment variables (see docker-compose.yml).
CMD ["uvicorn", "--factory", "example_app.main:create_app", "--host", "0.0.0.0", "--port", "8000"]
