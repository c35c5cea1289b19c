"""Step-up authentication (RFC 9470): is the user's login strong enough, and recent enough?

A valid token proves who the user is; some actions also need to know how (`acr`, the
authentication context class) and when (`auth_time`) they logged in. A refusal is a 401 with
`error="insufficient_user_authentication"` and what to ask Keycloak for next (`acr_values`,
`max_age`), so a client can send the user back to log in again, stronger.

Levels are matched exactly, never ordered: `acr` values are names ("gold") or, without a
mapping, Keycloak's numeric levels of authentication ("1", "2"), and only the application knows
which names outrank which. A route lists every level it accepts, in order of preference, as
RFC 9470's `acr_values` does.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi_kc._errors import InsufficientUserAuthenticationError
from fastapi_kc._principal import Principal

StepUpCheck = Callable[[Principal, float], None]


def acr_check(levels: tuple[str, ...]) -> StepUpCheck:
    """A check that the token's `acr` is one of `levels`.

    Raises:
        ValueError: no level, or an empty one (a programming error, raised when the route is built).
    """
    if not levels or any(not isinstance(level, str) or not level.strip() or " " in level for level in levels):
        raise ValueError("require_acr() needs one or more acr values without spaces, e.g. require_acr('gold')")
    accepted = frozenset(levels)

    def check(principal: Principal, now: float) -> None:
        # RFC 9470 §3: the resource server names the acr values it would accept, in order of preference.
        if principal.acr not in accepted:
            raise InsufficientUserAuthenticationError(
                f"requires authentication level {' or '.join(levels)}", acr_values=levels, reason="acr"
            )

    return check


def auth_age_check(max_age: int) -> StepUpCheck:
    """A check that the user authenticated (`auth_time`) at most `max_age` seconds ago.

    A token without `auth_time` cannot show its age and is refused. No leeway is added: a clock
    skew between Keycloak and this host makes logins look older (or younger) by the skew, which
    a `max_age` of minutes absorbs.

    Raises:
        ValueError: `max_age` is negative or not an integer (raised when the route is built).
    """
    if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
        raise ValueError("require_auth_age() needs a whole number of seconds, 0 or more")

    def check(principal: Principal, now: float) -> None:
        auth_time = principal.auth_time
        # RFC 9470 §3: max_age is the allowable elapsed time since the last active authentication.
        if auth_time is None or now - auth_time.timestamp() > max_age:
            raise InsufficientUserAuthenticationError(
                f"requires an authentication within the last {max_age} seconds", max_age=max_age, reason="auth_age"
            )

    return check
