"""Deeply immutable claims: JSON objects become read-only dicts, JSON arrays become tuples.

A verified `Principal` is cached and handed to every request that presents the same token, so
its claims must not be changeable by a handler: appending `"admin"` to
`claims["realm_access"]["roles"]` would otherwise grant the role to every later request with
that token. Claims are frozen once per principal, when `Principal.claims` is first read (most
requests never read the raw claims, so a new token does not pay for it), never on a cache hit.

`FrozenDict` is a `dict` subclass rather than a `MappingProxyType`: reading stays at C speed
(`get`, `in`, iteration), and it remains what `json.dumps`, pydantic, `jsonable_encoder`,
`pickle` and `copy` already understand, while every method that would change it raises
`TypeError`, as `MappingProxyType` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NoReturn


class FrozenDict(dict[str, Any]):
    """A read-only `dict`: reading works as for any dict, changing it raises `TypeError`."""

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("token claims are read-only")

    __setitem__ = __delitem__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only
    __ior__ = _read_only

    def __reduce__(self) -> tuple[type[FrozenDict], tuple[dict[str, Any]]]:
        # pickle and copy would otherwise rebuild the dict item by item through __setitem__.
        return (type(self), (dict(self),))

    @classmethod
    def fromkeys(cls, keys: Iterable[str], value: Any = None) -> FrozenDict:  # type: ignore[override]
        return cls(dict.fromkeys(keys, value))


def _freeze_value(value: Any) -> Any:
    kind = type(value)
    if kind is dict or kind is FrozenDict:
        return freeze(value)
    if kind is list or kind is tuple:
        # Keycloak's arrays are mostly strings (roles, audiences): no call per scalar item.
        return tuple([item if type(item) in _SCALARS else _freeze_value(item) for item in value])
    # Types JSON never produces, from a Principal built by hand: frozen by what they are.
    if isinstance(value, Mapping):
        return freeze(value)
    if isinstance(value, list | tuple):
        return tuple(_freeze_value(item) for item in value)
    if isinstance(value, set | frozenset):
        return frozenset(value)
    return value


def freeze(claims: Mapping[str, Any]) -> FrozenDict:
    """A deeply read-only copy of `claims`; scalars are shared, only containers are rebuilt."""
    return FrozenDict(
        {name: value if type(value) in _SCALARS else _freeze_value(value) for name, value in claims.items()}
    )


_SCALARS = frozenset({str, int, float, bool, type(None)})
