"""Property tests of the HTTP face: random Authorization headers through both apps, as raw ASGI.

Properties: no exception escapes an app, no status of 500 or above (the harness asserts both
on every call), every refusal is a 401 with a Bearer challenge, and a request passes exactly
when it carries one well-formed bearer header with a valid token, with the status its route
gives that caller (mario holds `orders:read` but not `admin`).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.attacks.harness import Target
from tests.fuzz.conftest import EXAMPLES_RUN, fuzz_settings
from tests.fuzz.strategies import B64URL_ALPHABET, mutated
from tests.support.tokens import SigningKey, mint, user_claims

RANDOM_HEADERS = 2000
MUTATED_BEARERS = 1500
ROUTE_STATUS = {"/me": 200, "/admin": 403, "/orders": 200}


@pytest.fixture(scope="module")
def token(signing_key: SigningKey) -> str:
    return mint(user_claims(), signing_key)


def expected_status(headers: list[tuple[bytes, bytes]], path: str, token: str) -> int:
    values = [value for name, value in headers if name.lower() == b"authorization"]
    if len(values) == 1 and re.fullmatch(rb" *(?i:bearer) +" + re.escape(token.encode()) + rb" *", values[0]):
        return ROUTE_STATUS[path]
    return 401


def check_reply(target: Target, headers: list[tuple[bytes, bytes]], path: str, token: str) -> None:
    want = expected_status(headers, path, token)
    for app in target.apps:
        reply = target.get(path, headers, app=app)
        assert reply.status == want, (app, path, headers, reply.status, reply.body[:200])
        if want == 401:
            assert reply.headers["www-authenticate"].startswith('Bearer realm="demo"')


def header_values(token: str) -> st.SearchStrategy[bytes]:
    schemes = st.sampled_from([b"Bearer", b"bearer", b"BEARER", b"Basic", b"DPoP", b"", b"Bearer,", b"Bearer\t"])
    spaces = st.sampled_from([b"", b" ", b"  ", b"\t", b"\x00", b"\r\n"])
    payloads = st.one_of(
        st.just(token.encode()),
        st.binary(max_size=200),
        st.text(alphabet=B64URL_ALPHABET + ".~+/=", max_size=200).map(str.encode),
        mutated(token).map(lambda t: t.encode("utf-8", "surrogatepass")),
    )
    well_formed = st.builds(
        lambda lead, scheme, gap, trail: lead + scheme + gap + token.encode() + trail,
        st.sampled_from([b"", b" ", b"  "]),
        st.sampled_from([b"Bearer", b"bearer", b"BEARER", b"bEaReR"]),
        st.sampled_from([b" ", b"  ", b"   "]),
        st.sampled_from([b"", b" ", b"  "]),
    )
    return st.one_of(
        well_formed,
        st.binary(max_size=300),
        st.builds(
            lambda a, s, p, z: a + s + p + z, spaces, schemes, st.builds(bytes.__add__, spaces, payloads), spaces
        ),
    )


def test_random_authorization_headers(target: Target, token: str, request: pytest.FixtureRequest) -> None:
    names = st.sampled_from([b"authorization", b"Authorization", b"AUTHORIZATION", b"x-authorization", b"cookie"])
    headers = st.lists(st.tuples(names, header_values(token)), max_size=3)
    passed = {"yes": 0, "no": 0}

    @fuzz_settings(RANDOM_HEADERS)
    @given(headers, st.sampled_from(list(ROUTE_STATUS)))
    def check(header_list: list[tuple[bytes, bytes]], path: str) -> None:
        EXAMPLES_RUN[request.node.name] += 1
        passed["yes" if expected_status(header_list, path, token) != 401 else "no"] += 1
        check_reply(target, header_list, path, token)

    check()
    assert EXAMPLES_RUN[request.node.name] >= RANDOM_HEADERS
    assert passed["yes"] >= 20, passed  # not vacuous: some generated requests are well-formed


def test_mutated_bearer_tokens(target: Target, token: str, request: pytest.FixtureRequest) -> None:
    @fuzz_settings(MUTATED_BEARERS)
    @given(mutated(token), st.sampled_from(list(ROUTE_STATUS)))
    def check(candidate: str, path: str) -> None:
        EXAMPLES_RUN[request.node.name] += 1
        headers = [(b"authorization", b"Bearer " + candidate.encode("utf-8", "surrogatepass"))]
        check_reply(target, headers, path, token)

    check()
    assert EXAMPLES_RUN[request.node.name] >= MUTATED_BEARERS
