"""A `Principal` as data: its pydantic schema, its JSON form, and its claims thawed for pickling.

FastAPI answers with whatever a route returns once pydantic can serialise it, so the schema
here is what makes `-> Principal`, `response_model=Principal` and a Principal inside a user's
model work. It serialises the *public fields* (`Principal.public_fields`), never the raw
claims unless asked: claims carry whatever mappers put into the token, and a route returning
"the current user" should not leak them by accident.

Validation accepts only an existing `Principal` instance, never a dict or JSON: a Principal
vouches for a verified token, and building one from request data would let anyone claim to be
anyone.
"""

from __future__ import annotations

import functools
import typing
import weakref
from collections.abc import Mapping, Set
from typing import TYPE_CHECKING, Any, Final

from pydantic import GetCoreSchemaHandler, TypeAdapter
from pydantic_core import core_schema

if TYPE_CHECKING:
    from fastapi_kc._principal import Principal

#: Serialisation context key that adds the raw claims: `model_dump(context={CLAIMS_CONTEXT: True})`.
CLAIMS_CONTEXT: Final = "principal_claims"


def thaw(value: Any) -> Any:
    """Claims as plain JSON types again: read-only mappings become dicts, tuples become lists."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(item) for item in value]
    return value


def _plain(value: Any) -> Any:
    """A field value in JSON's shapes: sets as sorted lists, mappings as dicts."""
    if isinstance(value, Set):
        return sorted(value)
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return list(value)
    return value


def _json_shape(hint: Any) -> Any:
    """The type a field has once `_plain` has turned it into JSON's shapes."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (frozenset, set, Set, typing.AbstractSet) or (origin is tuple and args[-1:] == (Ellipsis,)):
        return list[_json_shape(args[0])]  # type: ignore[misc]
    if origin in (dict, Mapping, typing.Mapping):
        return dict[args[0], _json_shape(args[1])]  # type: ignore[misc,valid-type]
    if origin in (typing.Union, type(int | None)):
        return typing.Union[tuple(_json_shape(arg) for arg in args)]  # noqa: UP007 - built from a tuple
    return hint


def _return_hint(function: Any) -> Any:
    try:
        return typing.get_type_hints(function).get("return", Any)
    except (NameError, TypeError):  # an annotation that cannot be resolved documents as "any"
        return Any


def _attribute_hint(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        if name in vars(klass).get("__annotations__", {}):
            try:
                return typing.get_type_hints(klass).get(name, Any)
            except (NameError, TypeError):
                return Any
    return Any


def field_hints(cls: type[Principal]) -> dict[str, Any]:
    """Each public field's type, from the property's return annotation (or the class's)."""
    hints: dict[str, Any] = {}
    for name in cls.public_fields:
        member = getattr(cls, name, None)
        if isinstance(member, property):
            hints[name] = _return_hint(member.fget)
        elif isinstance(member, functools.cached_property):
            hints[name] = _return_hint(member.func)
        else:
            hints[name] = _attribute_hint(cls, name)
    return hints


def serialize(principal: Principal, info: core_schema.SerializationInfo | None = None) -> dict[str, Any]:
    """The public fields (plus the claims when the serialisation context asks for them)."""
    values = {name: _plain(getattr(principal, name)) for name in type(principal).public_fields}
    context = info.context if info is not None else None
    if isinstance(context, Mapping) and context.get(CLAIMS_CONTEXT) and "claims" not in values:
        values["claims"] = thaw(principal.claims)
    if "claims" in values:
        values["claims"] = thaw(values["claims"])
    return values


def pydantic_schema(cls: type[Principal], handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
    """Validate: an instance of `cls` only. Serialise: its public fields, typed for OpenAPI."""
    fields = {
        name: core_schema.typed_dict_field(handler.generate_schema(_json_shape(hint)))
        for name, hint in field_hints(cls).items()
    }
    # "allow": the claims, when asked for, travel as an extra key of any JSON shape.
    shape = core_schema.typed_dict_schema(
        fields, cls_name=cls.__name__, extra_behavior="allow", ref=f"{cls.__module__}.{cls.__qualname__}:{id(cls)}"
    )
    return core_schema.is_instance_schema(
        cls,
        serialization=core_schema.plain_serializer_function_ser_schema(serialize, info_arg=True, return_schema=shape),
    )


_ADAPTERS: weakref.WeakKeyDictionary[type[Principal], TypeAdapter[Any]] = weakref.WeakKeyDictionary()


def _adapter(cls: type[Principal]) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


def to_dict(principal: Principal, *, claims: bool) -> dict[str, Any]:
    """JSON-ready public fields, exactly as a FastAPI response would carry them."""
    context = {CLAIMS_CONTEXT: True} if claims else None
    result: dict[str, Any] = _adapter(type(principal)).dump_python(principal, mode="json", context=context)
    return result
