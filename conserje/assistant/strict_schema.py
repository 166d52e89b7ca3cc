"""JSON schemas for OpenAI's strict function calling, generated from msgspec Structs.

In strict mode (``"strict": true``) the API constrains the model's arguments to the
schema, but it only takes a subset of JSON Schema: the schema must be self-contained,
every object must forbid unknown keys and list *all* its properties in ``required``.
An optional argument therefore cannot be left out by the model.

The convention used here: a field with a default may be sent as ``null``, meaning "use
the default". Its schema is widened to also accept ``null``, and
:func:`drop_default_nulls` removes those nulls before the arguments are decoded, so the
Struct's default applies. A field whose own type already takes ``None``
(``note: str | None = None``) keeps the null as its value.
"""

from __future__ import annotations

from typing import Any

import msgspec
import msgspec.inspect as mi

__all__ = ["drop_default_nulls", "strict_schema"]

# Keys that describe a property rather than constrain it; they stay on the outside when
# a property is widened to accept null.
_ANNOTATIONS = ("title", "description", "default", "examples")
_SEQUENCES = (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)
_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def strict_schema(struct_type: type[msgspec.Struct]) -> dict[str, Any]:
    """Build the self-contained, strict-mode parameters schema of a Struct.

    Raises:
        TypeError: the Struct cannot be described in strict mode: it is recursive (a
            self-contained schema would be infinite), has a free-form mapping field
            (strict mode forbids keys that are not listed) or an untyped (``Any``) field,
            or is ``array_like`` (the arguments must be an object).
    """
    generated = msgspec.json.schema(struct_type)
    defs = generated.pop("$defs", {})
    schema = _strict(_inline(generated, defs, ()), struct_type.__name__)
    if schema.get("type") != "object":
        raise TypeError(f"{struct_type.__name__} must encode as an object, not an array")
    return schema


def drop_default_nulls(value: Any, struct_type: type[msgspec.Struct]) -> Any:
    """Remove the nulls that stand for a default from decoded arguments, in place.

    Args:
        value: the arguments as plain JSON values (dicts, lists, ...).
        struct_type: the Struct they are meant for.

    Returns:
        ``value`` itself, ready for ``msgspec.convert``.
    """
    _drop(value, mi.type_info(struct_type))
    return value


def _inline(node: Any, defs: dict[str, Any], seen: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return {key: _inline(item, defs, seen) for key, item in node.items()}
    name = ref.removeprefix("#/$defs/")
    if name in seen:
        raise TypeError(f"{name} refers to itself; a strict tool schema must be self-contained")
    siblings = {key: item for key, item in node.items() if key != "$ref"}
    return {**_inline(defs[name], defs, (*seen, name)), **_inline(siblings, defs, seen)}


def _strict(node: dict[str, Any], path: str) -> dict[str, Any]:
    node = dict(node)
    if node.get("default", ...) is None:
        # The widened type already says null; a null default adds nothing for the model.
        del node["default"]
    for key in ("anyOf", "allOf", "oneOf", "prefixItems"):
        if key in node:
            node[key] = [_strict(item, path) for item in node[key]]
    if isinstance(node.get("items"), dict):
        node["items"] = _strict(node["items"], f"{path}[]")
    if node.get("type") == "object" or "properties" in node:
        if "properties" not in node:
            raise TypeError(f"{path} is a free-form mapping, which strict mode cannot describe")
        required = set(node.get("required", ()))
        node["properties"] = {
            name: _strict(prop if name in required else _nullable(prop), f"{path}.{name}")
            for name, prop in node["properties"].items()
        }
        node["required"] = list(node["properties"])
        node["additionalProperties"] = False
    if "type" not in node and "enum" in node:
        # Strict mode wants a type on every node; msgspec leaves it out for literals.
        node["type"] = _json_type([_JSON_TYPES[type(value)] for value in node["enum"]])
    if not {"type", "anyOf", "allOf", "oneOf"} & node.keys():
        raise TypeError(f"{path} has no type, which strict mode requires")
    return node


def _json_type(kinds: list[str]) -> str | list[str]:
    unique = sorted(set(kinds))
    return unique[0] if len(unique) == 1 else unique


def _nullable(prop: dict[str, Any]) -> dict[str, Any]:
    if _schema_accepts_null(prop):
        return prop
    inner = {key: item for key, item in prop.items() if key not in _ANNOTATIONS}
    outer = {key: item for key, item in prop.items() if key in _ANNOTATIONS}
    return {"anyOf": [inner, {"type": "null"}], **outer}


def _schema_accepts_null(prop: dict[str, Any]) -> bool:
    kind = prop.get("type")
    return (
        kind == "null"
        or (isinstance(kind, list) and "null" in kind)
        or None in prop.get("enum", ())
        or any(_schema_accepts_null(option) for option in prop.get("anyOf", ()))
    )


def _drop(value: Any, info: mi.Type) -> None:
    if isinstance(info, mi.Metadata):
        _drop(value, info.type)
    elif isinstance(info, mi.StructType) and isinstance(value, dict):
        for field in info.fields:
            if field.encode_name not in value:
                continue
            item = value[field.encode_name]
            if item is None and not field.required and not _type_accepts_none(field.type):
                del value[field.encode_name]
            else:
                _drop(item, field.type)
    elif isinstance(info, mi.UnionType):
        structs = [option for option in info.types if isinstance(option, mi.StructType)]
        # With several Struct options the decoder picks one by tag; leave such values alone.
        if len(structs) == 1:
            _drop(value, structs[0])
    elif isinstance(info, _SEQUENCES) and isinstance(value, list):
        for item in value:
            _drop(item, info.item_type)


def _type_accepts_none(info: mi.Type) -> bool:
    if isinstance(info, mi.Metadata):
        return _type_accepts_none(info.type)
    if isinstance(info, mi.UnionType):
        return any(_type_accepts_none(option) for option in info.types)
    if isinstance(info, mi.LiteralType):
        return None in info.values
    return isinstance(info, mi.NoneType | mi.AnyType)
