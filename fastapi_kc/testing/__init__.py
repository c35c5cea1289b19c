"""Test your own app without a Keycloak: real tokens, real verification, no network.

    from fastapi_kc.testing import MockKeycloak

    with MockKeycloak(auth) as keycloak, TestClient(app) as client:
        token = keycloak.token(username="mario", realm_roles=["customer"])
        client.get("/me", headers={"Authorization": f"Bearer {token}"})

With pytest, the `mock_keycloak` fixture does the same until the test ends (see
`fastapi_kc.testing.pytest_plugin`). Nothing in the rest of the package imports this module:
the code under test is the code that runs in production.
"""

from fastapi_kc.testing._keycloak import MockKeycloak

__all__ = ["MockKeycloak"]
