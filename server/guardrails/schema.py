"""Checks an answer against a response_format JSON schema (the subset models are asked for:
type, properties, required, additionalProperties, items, enum, const, anyOf/oneOf/allOf,
string/number/array bounds, $ref to $defs). Returns the first problem, or None."""

from __future__ import annotations

import json
from typing import Any

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES.get(kind, object))


def problem(text: str, schema: dict) -> str | None:
    try:
        value = json.loads(text)
    except ValueError as exc:
        return f"the answer is not JSON ({exc.msg} at character {exc.pos})"
    return _check(value, schema, "$", schema)


def _check(value: Any, schema: Any, path: str, root: dict) -> str | None:  # noqa: C901 - one rule per branch
    if not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        ref = schema["$ref"]
        target: Any = root
        for part in ref.lstrip("#/").split("/") if ref.startswith("#/") else []:
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return _check(value, target, path, root)
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if not any(_is(value, k) for k in kinds):
            return f"{path}: expected {' or '.join(kinds)}, got {type(value).__name__}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{path}: {value!r} is not one of {schema['enum']}"
    if "const" in schema and value != schema["const"]:
        return f"{path}: expected {schema['const']!r}"
    for key, test in (("anyOf", any), ("oneOf", lambda r: sum(r) == 1)):
        if key in schema and not test([_check(value, s, path, root) is None for s in schema[key]]):
            return f"{path}: matches {'none' if key == 'anyOf' else 'not exactly one'} of {key}"
    for sub in schema.get("allOf", []):
        found = _check(value, sub, path, root)
        if found:
            return found
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                return f"{path}: missing required property '{name}'"
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in props:
                found = _check(item, props[name], f"{path}.{name}", root)
            elif extra is False:
                found = f"{path}: unexpected property '{name}'"
            else:
                found = _check(item, extra, f"{path}.{name}", root) if isinstance(extra, dict) else None
            if found:
                return found
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            return f"{path}: fewer than {schema['minItems']} items"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"{path}: more than {schema['maxItems']} items"
        for i, item in enumerate(value):
            found = _check(item, schema.get("items"), f"{path}[{i}]", root)
            if found:
                return found
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            return f"{path}: shorter than {schema['minLength']}"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"{path}: longer than {schema['maxLength']}"
    if _is(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{path}: below the minimum {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{path}: above the maximum {schema['maximum']}"
    return None


def requested_schema(response_format: Any) -> dict | None:
    """The schema of `response_format: {type: json_schema, json_schema: {schema: ...}}`."""
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return schema if isinstance(schema, dict) else None
    return None
