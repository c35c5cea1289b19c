"""The local view every request is checked against: what a revocation covers, and for how long."""

from __future__ import annotations

import pytest

from fastapi_kc import InvalidTokenError, UnavailableError
from fastapi_kc._revocations import Revocation, RevocationList
from tests.support.clock import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock(1_000_000.0)


@pytest.fixture
def revocations(clock: Clock) -> RevocationList:
    return RevocationList(clock)


def test_a_revoked_session_is_refused_as_session_ended(revocations: RevocationList, clock: Clock) -> None:
    revocations.apply(Revocation("sid", "s1", clock.now, clock.now + 300))
    with pytest.raises(InvalidTokenError, match="session ended") as refused:
        revocations.check("s1", "mario", clock.now - 10)
    assert refused.value.status_code == 401
    assert refused.value.reason == "revoked"
    revocations.check("s2", "mario", clock.now - 10)  # another session of the same user: sid-only logout


def test_a_revoked_subject_covers_tokens_issued_up_to_the_logout_only(
    revocations: RevocationList, clock: Clock
) -> None:
    revocations.apply(Revocation("sub", "mario", clock.now, clock.now + 300))
    assert revocations.is_revoked("any", "mario", clock.now - 100)
    assert revocations.is_revoked("any", "mario", clock.now)
    assert revocations.is_revoked("any", "mario", None)  # no iat: cannot show it came later
    assert not revocations.is_revoked("any", "mario", clock.now + 1)
    assert not revocations.is_revoked("any", "luigi", clock.now - 100)


def test_a_later_logout_of_the_same_subject_moves_the_cut_forward(revocations: RevocationList, clock: Clock) -> None:
    revocations.apply(Revocation("sub", "mario", clock.now, clock.now + 300))
    assert revocations.apply(Revocation("sub", "mario", clock.now + 50, clock.now + 350))
    assert not revocations.apply(Revocation("sub", "mario", clock.now + 10, clock.now + 310))  # older: no change
    assert revocations.is_revoked(None, "mario", clock.now + 50)


def test_applying_twice_changes_nothing(revocations: RevocationList, clock: Clock) -> None:
    revocation = Revocation("sid", "s1", clock.now, clock.now + 300)
    assert revocations.apply(revocation)
    assert not revocations.apply(revocation)
    assert len(revocations) == 1


def test_revocations_are_forgotten_once_every_token_they_cover_has_expired(
    revocations: RevocationList, clock: Clock
) -> None:
    revocations.apply(Revocation("sid", "s1", clock.now, clock.now + 300))
    revocations.apply(Revocation("sub", "mario", clock.now, clock.now + 600))
    clock.now += 301
    assert revocations.prune() == 1
    assert not revocations.is_revoked("s1", "luigi", clock.now - 400)
    assert revocations.is_revoked("s1", "mario", clock.now - 400)
    clock.now += 300
    assert revocations.prune() == 1
    assert len(revocations) == 0


def test_an_already_expired_revocation_is_not_recorded(revocations: RevocationList, clock: Clock) -> None:
    assert not revocations.apply(Revocation("sid", "s1", clock.now - 900, clock.now - 1))
    assert len(revocations) == 0


def test_a_store_refusal_refuses_every_token(revocations: RevocationList) -> None:
    revocations.refusal = UnavailableError("revocation state is not current", reason="revocations_stale")
    with pytest.raises(UnavailableError) as refused:
        revocations.check("s1", "mario", 0)
    assert refused.value.status_code == 503


def test_a_watch_fires_once_when_its_session_is_revoked(revocations: RevocationList, clock: Clock) -> None:
    fired: list[str] = []
    revocations.watch("s1", "mario", clock.now - 10, lambda: fired.append("mario"))
    revocations.watch("s2", "luigi", clock.now - 10, lambda: fired.append("luigi"))
    revocations.apply(Revocation("sid", "s1", clock.now, clock.now + 300))
    revocations.apply(Revocation("sid", "s3", clock.now, clock.now + 300))
    assert fired == ["mario"]


def test_a_watch_removed_does_not_fire(revocations: RevocationList, clock: Clock) -> None:
    fired: list[str] = []
    watch = revocations.watch("s1", "mario", clock.now - 10, lambda: fired.append("mario"))
    revocations.unwatch(watch)
    revocations.apply(Revocation("sub", "mario", clock.now, clock.now + 300))
    assert fired == []


def test_the_json_form_round_trips_and_is_canonical(clock: Clock) -> None:
    revocation = Revocation("sub", "mario", clock.now, clock.now + 300)
    assert Revocation.from_json(revocation.to_json()) == revocation
    assert revocation.to_json() == Revocation("sub", "mario", clock.now, clock.now + 300).to_json()


@pytest.mark.parametrize(
    "text",
    ["[]", '{"kind": "x", "value": "a", "at": 1, "until": 2}', '{"kind": "sid", "value": "", "at": 1, "until": 2}',
     '{"kind": "sid", "value": "a", "at": true, "until": 2}', '{"kind": "sid", "value": "a", "at": 1}', "not json",
     '{"kind": "sid", "value": "a", "at": 1, "until": 1' + "0" * 400 + "}"],
)  # fmt: skip
def test_anything_else_is_not_a_revocation(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each message differs
        Revocation.from_json(text)


def test_the_list_says_when_it_can_refuse_anything(revocations: RevocationList, clock: Clock) -> None:
    # The request path skips the check while `active` is false: it must never be false wrongly.
    assert not revocations.active
    revocations.apply(Revocation("sid", "s1", clock.now, clock.now + 300))
    assert revocations.active
    clock.now += 301
    revocations.prune()
    assert not revocations.active
    revocations.refusal = UnavailableError("revocation state is not current", reason="revocations_stale")
    assert revocations.active
    revocations.refusal = None
    assert not revocations.active


def test_a_list_nothing_ever_fed_cannot_revoke_and_one_applied_revocation_makes_it_able_for_good(
    revocations: RevocationList, clock: Clock
) -> None:
    assert revocations.may_revoke is False
    revocations.apply(Revocation("sid", "s1", clock.now, clock.now + 1))
    clock.now += 10
    assert revocations.prune() == 1
    assert revocations.may_revoke is True  # the source that fed it may feed it again


@pytest.mark.parametrize(
    ("session_id", "subject", "issued_at_offset"),
    [("s1", "luigi", -10), (None, "mario", -10), (None, "mario", 10), ("s2", "mario", None), ("s2", "luigi", None)],
)
def test_check_refuses_exactly_the_claims_is_revoked_reports(
    revocations: RevocationList, clock: Clock, session_id: str | None, subject: str, issued_at_offset: float | None
) -> None:
    revocations.apply(Revocation("sid", "s1", clock.now, clock.now + 300))
    revocations.apply(Revocation("sub", "mario", clock.now, clock.now + 300))
    issued_at = None if issued_at_offset is None else clock.now + issued_at_offset
    try:
        revocations.check(session_id, subject, issued_at)
        refused = False
    except InvalidTokenError:
        refused = True
    assert refused is revocations.is_revoked(session_id, subject, issued_at)
