"""Hypothesis strategies: JSON values, near-miss claim values, token mutations, header bytes."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.support.tokens import AUDIENCE, ISSUER, PUBLIC_URL

B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

#: Integers are bounded: a NumericDate beyond float range is a known library bug, covered (as a
#: strict xfail) by tests/attacks/test_time_claims.py rather than rediscovered here on every run.
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

b64url_text = st.text(alphabet=B64URL_ALPHABET, max_size=400)
token_like = st.one_of(
    st.text(max_size=300),
    st.builds(lambda a, b, c: f"{a}.{b}.{c}", b64url_text, b64url_text, b64url_text),
    st.lists(b64url_text, min_size=0, max_size=6).map(".".join),
    st.text(alphabet=B64URL_ALPHABET + ".=+/ ", max_size=600),
)


def near_misses(now: int) -> dict[str, st.SearchStrategy[Any]]:
    """For each checked claim, values around the right one, plus any JSON at all."""
    times = st.one_of(
        st.integers(min_value=now - 100_000, max_value=now + 100_000),
        st.floats(min_value=now - 1000, max_value=now + 1000),
        st.sampled_from([0, -1, 253402300799, 253402300800, 1e300, True, "1", None]),
        json_values,
    )
    return {
        "exp": times,
        "nbf": times,
        "iat": times,
        "iss": st.one_of(
            st.sampled_from([ISSUER, f"{ISSUER}/", ISSUER.upper(), f"{PUBLIC_URL}/realms/master", [ISSUER]]),
            json_values,
        ),
        "aud": st.one_of(
            st.lists(st.sampled_from([AUDIENCE, "account", "API", "ap", [AUDIENCE], 1]), max_size=3),
            st.sampled_from([AUDIENCE, "account", {AUDIENCE: True}]),
            json_values,
        ),
        "typ": st.one_of(st.sampled_from(["Bearer", "ID", "Refresh", "bearer", ["Bearer"]]), json_values),
        "sub": st.one_of(st.sampled_from(["someone", "", " "]), json_values),
        "cnf": st.one_of(st.just({"jkt": "abc"}), json_values),
        "realm_access": st.one_of(
            st.fixed_dictionaries({"roles": st.lists(st.sampled_from(["admin", "customer", 1, ["admin"]]))}),
            json_values,
        ),
        "azp": st.one_of(st.sampled_from([AUDIENCE, "web"]), json_values),
    }


def claim_changes(now: int) -> st.SearchStrategy[dict[str, tuple[str, Any]]]:
    """For each claim name: keep it, delete it, or set it to a near miss."""
    per_claim = {
        name: st.one_of(st.just(("keep", None)), st.just(("delete", None)), values.map(lambda v: ("set", v)))
        for name, values in near_misses(now).items()
    }
    return st.fixed_dictionaries(per_claim)


# --- mutations of a valid token ---------------------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn, token: str) -> str:
    """`token` after one to three of: bit flips, character edits, segment swaps, truncations."""
    kind_list = draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3))
    for kind in kind_list:
        token = kind(draw, token)
    return token


def _flip_bit(draw: st.DrawFn, token: str) -> str:
    if not token:
        return "A"
    data = bytearray(token.encode("utf-8", "surrogatepass"))
    i = draw(st.integers(0, len(data) - 1))
    data[i] ^= 1 << draw(st.integers(0, 7))
    return data.decode("utf-8", "replace")


def _replace_char(draw: st.DrawFn, token: str) -> str:
    if not token:
        return "."
    i = draw(st.integers(0, len(token) - 1))
    return token[:i] + draw(st.sampled_from(B64URL_ALPHABET + ".=+/ \x00é")) + token[i + 1 :]


def _insert_char(draw: st.DrawFn, token: str) -> str:
    i = draw(st.integers(0, len(token)))
    return token[:i] + draw(st.sampled_from(B64URL_ALPHABET + ".=+/ \n")) + token[i:]


def _delete_span(draw: st.DrawFn, token: str) -> str:
    if not token:
        return token
    i = draw(st.integers(0, len(token) - 1))
    j = draw(st.integers(i + 1, min(len(token), i + 8)))
    return token[:i] + token[j:]


def _truncate(draw: st.DrawFn, token: str) -> str:
    return token[: draw(st.integers(0, max(len(token) - 1, 0)))]


def _swap_segments(draw: st.DrawFn, token: str) -> str:
    parts = token.split(".")
    return ".".join(draw(st.permutations(parts)))


def _duplicate_segment(draw: st.DrawFn, token: str) -> str:
    parts = token.split(".")
    i = draw(st.integers(0, len(parts) - 1))
    return ".".join(parts[: i + 1] + parts[i:])


def _drop_segment(draw: st.DrawFn, token: str) -> str:
    parts = token.split(".")
    i = draw(st.integers(0, len(parts) - 1))
    return ".".join(parts[:i] + parts[i + 1 :])


MUTATIONS = [
    _flip_bit,
    _replace_char,
    _insert_char,
    _delete_span,
    _truncate,
    _swap_segments,
    _duplicate_segment,
    _drop_segment,
]
