"""Several `KeycloakAuth`s behind one middleware: the token's issuer picks the one that verifies.

The `iss` claim is read before the signature is checked, and only to pick: the chosen auth then
verifies the token strictly (signature with its own realm's keys, its own issuer and audience),
so a token that lies about its issuer is refused by the realm it named. A token naming an
issuer that none of the auths trusts is refused here, 401 `invalid_token`.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi_kc._auth import KeycloakAuth
from fastapi_kc._bearer import bearer_token
from fastapi_kc._errors import AuthError, InvalidTokenError
from fastapi_kc._jws import b64url_decode, decode_json_object


class AuthByIssuer:
    """The auths of one middleware, indexed by issuer.

    Raises:
        ValueError: no auth, or two for one issuer (one auth serves several audiences of a
            realm: give its `audience` setting the list).
    """

    def __init__(self, auths: Sequence[KeycloakAuth]) -> None:
        if not auths:
            raise ValueError("KeycloakMiddleware needs at least one KeycloakAuth")
        by_issuer: dict[str, KeycloakAuth] = {}
        for auth in auths:
            if not isinstance(auth, KeycloakAuth):
                raise TypeError(f"KeycloakMiddleware: auth must be a KeycloakAuth or a list of them, got {auth!r}")
            issuer = auth.settings.issuer
            if issuer in by_issuer:
                raise ValueError(
                    f"KeycloakMiddleware: two auths for issuer {issuer}; one KeycloakAuth serves several "
                    "audiences of a realm (KEYCLOAK_AUDIENCE=api,other)"
                )
            by_issuer[issuer] = auth
        self.auths = tuple(auths)
        self.first = self.auths[0]
        self._by_issuer = by_issuer
        self._max_bytes = max(auth.settings.max_token_bytes for auth in auths)

    def choose(self, headers: list[tuple[bytes, bytes]]) -> KeycloakAuth:
        """The auth for the request's token. Without a readable token, the first auth, whose own
        `authenticate` then refuses the request with the precise reason.

        Raises:
            InvalidTokenError: the token names an issuer none of the auths trusts.
        """
        if len(self.auths) == 1:
            return self.first
        try:
            token = bearer_token(headers)
            if len(token) > self._max_bytes:
                return self.first
            _, payload, _ = token.split(".", 2)
            issuer = decode_json_object(b64url_decode(payload), "payload").get("iss")
        except (AuthError, ValueError):
            return self.first
        chosen = self._by_issuer.get(issuer) if isinstance(issuer, str) else None
        if chosen is None:
            # The issuer is the sender's text: not logged (the doctor shows it, escaped). The
            # middleware logs and counts the refusal, with the request's method and path.
            error = InvalidTokenError("token issuer is not one this service trusts", reason="issuer")
            error.log_detail = error.description
            raise error
        return chosen
