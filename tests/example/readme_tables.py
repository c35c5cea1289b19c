"""The README's settings and errors tables, generated from the library itself.

`python -m tests.example.readme_tables` prints both; test_readme.py fails when the README's copy
differs, so a new setting or error class cannot go undocumented.
"""

from __future__ import annotations

import inspect
from typing import Any

from pydantic_core import PydanticUndefined

import fastapi_kc
from fastapi_kc import AuthError, KeycloakError, KeycloakSettings

ENV_PREFIX = "KEYCLOAK_"


def _default(field: Any) -> str:
    default = field.default
    if default is PydanticUndefined:
        return "**required**"
    if default is None or default == "" or default == ():
        return "unset"
    if isinstance(default, tuple):
        return f"`{','.join(default)}`"
    if isinstance(default, float) and default.is_integer():
        return f"`{int(default)}`"
    return f"`{default}`"


def settings_table() -> str:
    rows = ["| setting | environment variable | default | meaning |", "|---|---|---|---|"]
    for name, field in KeycloakSettings.model_fields.items():
        rows.append(f"| `{name}` | `{ENV_PREFIX}{name.upper()}` | {_default(field)} | {field.description or ''} |")
    return "\n".join(rows)


def _summary(cls: type) -> str:
    return inspect.cleandoc(cls.__doc__ or "").splitlines()[0]


def error_classes() -> list[type[KeycloakError]]:
    exported = [getattr(fastapi_kc, name) for name in fastapi_kc.__all__]
    classes = [obj for obj in exported if isinstance(obj, type) and issubclass(obj, KeycloakError)]
    # The tree's order: base first, then each branch with its subclasses.
    return sorted(classes, key=lambda cls: [c.__name__ for c in reversed(cls.__mro__) if issubclass(c, KeycloakError)])


def errors_table() -> str:
    rows = ["| exception | is a | HTTP status | `error` (RFC 6750) | when |", "|---|---|---|---|---|"]
    for cls in error_classes():
        parents = ", ".join(f"`{base.__name__}`" for base in cls.__bases__)
        if cls is not AuthError and issubclass(cls, AuthError):
            status, code = f"{cls.status_code}", f"`{cls.error}`" if cls.error else "(none)"
        else:
            status, code = "-", "-"
        if cls is AuthError:
            status, code = "401, 403 or 503", "per subclass"
        rows.append(f"| `{cls.__name__}` | {parents} | {status} | {code} | {_summary(cls)} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
    print()
    print(errors_table())
