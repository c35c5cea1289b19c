"""The local view of ended sessions: what every request is checked against, in memory.

A logout (OpenID Connect Back-Channel Logout 1.0) names a session (`sid`), a subject (`sub`),
or both. Keycloak sends one logout token per client naming one session even when an
administrator ends every session of the user (field notes, "Keycloak 26.5, observed"), so a
subject named in a logout also revokes every token of that subject issued at or before the
logout, whatever its session. A revocation is kept only until the tokens it covers could
have expired (`retention` after the logout), then forgotten.

The check is two dictionary look-ups and runs on every request, verified-token cache hits
included: no I/O, no lock, no branch on where revocations come from. Stores (in memory, or
Redis shared by replicas, in `fastapi_kc.revocation`) feed this view; it never calls them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from fastapi_kc._claims import json_number
from fastapi_kc._errors import AuthError, InvalidTokenError

logger = logging.getLogger("fastapi_kc")

SESSION_ENDED: Final = "session ended"
Kind = Literal["sid", "sub"]


@dataclass(frozen=True, slots=True)
class Revocation:
    """One logout: the session `sid`, or every token of subject `sub` issued at or before `at`.

    `at` is the logout token's `iat` (Keycloak's clock, the same clock as the access tokens'
    `iat`, so no skew enters the comparison); `until` is when the revocation may be forgotten.
    """

    kind: Kind
    value: str
    at: float
    until: float

    def to_json(self) -> str:
        """A canonical text form: the same revocation always gives the same string."""
        return json.dumps({"kind": self.kind, "value": self.value, "at": self.at, "until": self.until}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Revocation:
        """The revocation written by `to_json`.

        Raises:
            ValueError: not such a revocation.
        """
        data: Any = json.loads(text)
        if not isinstance(data, dict) or data.get("kind") not in ("sid", "sub"):
            raise ValueError("not a revocation")
        value, at, until = data.get("value"), data.get("at"), data.get("until")
        if not isinstance(value, str) or not value:
            raise ValueError("revocation without a value")
        at, until = json_number(at), json_number(until)
        if at is None or until is None:
            raise ValueError("revocation without times")
        return cls(data["kind"], value, at, until)


class SessionWatch:
    """A WebSocket's interest in its own session: `ended` fires when a revocation covers it."""

    __slots__ = ("ended", "issued_at", "session_id", "subject")

    def __init__(self, session_id: str | None, subject: str, issued_at: float | None, ended: Callable[[], None]):
        self.session_id = session_id
        self.subject = subject
        self.issued_at = issued_at
        self.ended = ended


class RevocationList:
    """Revoked sessions and subjects, with the time each may be forgotten."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._sessions: dict[str, float] = {}  # sid -> until
        self._subjects: dict[str, tuple[float, float]] = {}  # sub -> (logout time, until)
        self._watches: set[SessionWatch] = set()
        self._refusal: AuthError | None = None
        self.active = False
        """Whether `check` can refuse anything: False while nothing is revoked and no store refuses,
        so the request path can skip the call (one attribute read)."""
        self.may_revoke = False
        """Whether anything can ever feed this list: set once a back-channel logout route is built,
        a shared or passed-in store starts, or a revocation is applied; never cleared. While
        False no revocation can arrive, so an open WebSocket needs no watch (its guard stands aside)."""

    @property
    def refusal(self) -> AuthError | None:
        """Set by a store that can no longer vouch for the list (e.g. Redis stale for too long)."""
        return self._refusal

    @refusal.setter
    def refusal(self, error: AuthError | None) -> None:
        self._refusal = error
        self._update_active()

    def _update_active(self) -> None:
        self.active = bool(self._sessions or self._subjects or self._refusal is not None)

    def __len__(self) -> int:
        return len(self._sessions) + len(self._subjects)

    def check(self, session_id: str | None, subject: str, issued_at: float | None) -> None:
        """Refuse a token of a revoked session or subject; runs on every request.

        Raises:
            InvalidTokenError: 401 "session ended".
            AuthError: the store's `refusal`, when it can no longer vouch for this list.
        """
        if self._refusal is not None:
            raise self._refusal
        if self.is_revoked(session_id, subject, issued_at):
            raise InvalidTokenError(SESSION_ENDED, reason="revoked")

    def is_revoked(self, session_id: str | None, subject: str, issued_at: float | None) -> bool:
        """Whether a revocation covers these claims: the one rule `check` and the WebSocket
        watches both apply (a store's refusal is not a revocation)."""
        if session_id is not None and session_id in self._sessions:
            return True
        # A token without `iat` cannot show it came after the logout: it stays refused.
        logout = self._subjects.get(subject)
        return logout is not None and (issued_at is None or issued_at <= logout[0])

    def apply(self, revocation: Revocation) -> bool:
        """Record `revocation`; True if it revoked something not revoked before.

        Idempotent and order-free: replicas may receive the same revocation twice (pub/sub and
        the start-up read) or out of order, and end in the same state.
        """
        if revocation.until <= self._clock():
            return False
        if revocation.kind == "sid":
            known = self._sessions.get(revocation.value)
            self._sessions[revocation.value] = max(known or 0.0, revocation.until)
            changed = known is None
        else:
            previous = self._subjects.get(revocation.value)
            at, until = revocation.at, revocation.until
            if previous is not None:
                at, until = max(at, previous[0]), max(until, previous[1])
            self._subjects[revocation.value] = (at, until)
            changed = previous is None or at > previous[0]
        self.active = self.may_revoke = True
        if changed:
            self._notify()
        return changed

    def prune(self) -> int:
        """Forget revocations whose tokens have all expired; returns how many were dropped."""
        now = self._clock()
        sessions = [sid for sid, until in self._sessions.items() if until <= now]
        subjects = [sub for sub, (_, until) in self._subjects.items() if until <= now]
        for sid in sessions:
            del self._sessions[sid]
        for sub in subjects:
            del self._subjects[sub]
        self._update_active()
        return len(sessions) + len(subjects)

    def watch(
        self, session_id: str | None, subject: str, issued_at: float | None, ended: Callable[[], None]
    ) -> SessionWatch:
        """Call `ended` once a revocation covers these claims (for open WebSockets)."""
        watch = SessionWatch(session_id, subject, issued_at, ended)
        self._watches.add(watch)
        return watch

    def unwatch(self, watch: SessionWatch) -> None:
        self._watches.discard(watch)

    def _notify(self) -> None:
        for watch in [w for w in self._watches if self.is_revoked(w.session_id, w.subject, w.issued_at)]:
            self._watches.discard(watch)
            watch.ended()
