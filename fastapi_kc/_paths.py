"""Public path rules of `KeycloakMiddleware`: exact paths, `/prefix/*`, optionally per method.

No globs and no regular expressions: a rule is a literal path, or a literal prefix written with
a final `/*`, so what a rule opens can be read off the rule. Rules are checked when the
middleware is built; a rule that would open more than meant (a bare string, split into its
characters, made `/` public) or never match (no leading `/`) is refused then.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from fastapi_kc._errors import ConfigurationError

Rule = str | tuple[str, str]
_ANY: Final = None  # a rule without a method: every method
_ABSENT: Final = object()


def _method(value: object, rule: object) -> frozenset[str]:
    if not isinstance(value, str) or not value.isascii() or not value.isalpha():
        raise ValueError(f"public_paths: {rule!r}: the method must be an HTTP method such as 'GET'")
    method = value.upper()
    # A HEAD is a GET without the body; Starlette answers HEAD on every GET route.
    return frozenset(("GET", "HEAD")) if method == "GET" else frozenset((method,))


def _path(value: object, rule: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"public_paths: every path must be a string, got {rule!r}")
    if not value.startswith("/"):
        raise ValueError(f"public_paths: {value!r} must start with '/'")
    if "*" in value.removesuffix("/*"):
        raise ValueError(f"public_paths: {value!r}: '*' is allowed only as a final '/*' (a prefix)")
    return value


def _merge(table: dict[str, frozenset[str] | None], path: str, methods: frozenset[str] | None) -> None:
    if path in table:
        known = table[path]
        table[path] = _ANY if known is _ANY or methods is _ANY else known | methods
    else:
        table[path] = methods


class PublicPaths:
    """Which requests `KeycloakMiddleware` lets through without a token.

    Each rule is a path (`"/health"`: every method) or a `(method, path)` pair
    (`("GET", "/catalog/*")`: that method only; `GET` also covers `HEAD`). A path is exact, or a
    prefix written `/static/*`, which matches `/static` and everything below `/static/`, never
    `/staticky`.

    Raises:
        TypeError: the rules are a string (a list was meant) or hold something else than a path
            or a `(method, path)` pair.
        ValueError: a path without a leading `/`, a `*` other than a final `/*`, or a method
            that is not a word.
    """

    __slots__ = ("_exact", "_prefixes")

    def __init__(self, rules: Iterable[Rule]) -> None:
        if isinstance(rules, str | bytes):
            raise TypeError(f"public_paths must be a list of paths, e.g. [{rules!r}], not a string")
        exact: dict[str, frozenset[str] | None] = {}
        prefixes: dict[str, frozenset[str] | None] = {}
        for rule in rules:
            if isinstance(rule, tuple) and len(rule) == 2:
                methods: frozenset[str] | None = _method(rule[0], rule)
                path = _path(rule[1], rule)
            else:
                methods, path = _ANY, _path(rule, rule)
            if path.endswith("/*"):
                _merge(prefixes, path[:-2], methods)
            else:
                _merge(exact, path, methods)
        self._exact = exact
        self._prefixes = tuple(prefixes.items())

    def match(self, path: str, method: str) -> bool:
        """Whether a `method` request for `path` (as the app's routes see it) is public."""
        methods = self._exact.get(path, _ABSENT)
        if methods is not _ABSENT and (methods is _ANY or method in methods):  # type: ignore[operator]
            return True
        for prefix, allowed in self._prefixes:
            if (path == prefix or path.startswith(f"{prefix}/")) and (allowed is _ANY or method in allowed):
                return True
        return False


def with_route(paths: frozenset[str], factory: str, path: str) -> frozenset[str]:
    """`paths` (an auth's `public_paths`) with the route a router of `factory` serves without a token.

    The health and back-channel logout routers are public by construction: their path joins the
    auth's own set, which `KeycloakMiddleware` checks beside its rules, so nobody has to repeat
    it in `public_paths`.

    Raises:
        ConfigurationError: `path` does not start with `/` (the route could never match).
    """
    if not path.startswith("/"):
        raise ConfigurationError(f"{factory}(path={path!r}): the path must start with /")
    return paths | {path}
