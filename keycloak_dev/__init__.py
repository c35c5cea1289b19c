"""A real Keycloak for development and tests, without Docker.

The server distribution comes from Maven Central (`org.keycloak:keycloak-quarkus-dist`), is
cached under `.cache/keycloak/`, and runs on 127.0.0.1 with the demo realm of this folder.
`KEYCLOAK_VERSION` is the one pin: docker-compose.yml and the tests check against it.
"""

from keycloak_dev.server import KEYCLOAK_VERSION, REALM_FILE, KeycloakServer, KeycloakStartError

__all__ = ["KEYCLOAK_VERSION", "REALM_FILE", "KeycloakServer", "KeycloakStartError"]
