"""The clocks tests pass where the library takes `clock=`: one place instead of a copy per file."""

from __future__ import annotations

import time


class Clock:
    """A clock that stands still until the test moves it: `clock.now += 60`.

    It starts at the real time (freshly minted tokens are valid), or at `now` when given.
    """

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now


class ShiftedClock:
    """Real time, shifted by `offset` seconds the test sets (`clock.offset = 310`): for code that
    must also see real time pass, such as a real Keycloak's tokens or a real server's waits."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset
