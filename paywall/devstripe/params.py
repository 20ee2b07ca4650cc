"""Stripe's request encoding: form bodies (and query strings) with nested keys.

`line_items[0][price]=p&expand[]=a&metadata[k]=v` becomes
`{"line_items": [{"price": "p"}], "expand": ["a"], "metadata": {"k": "v"}}`. Values stay
strings; each endpoint converts what it reads (see `Params`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

from paywall.devstripe.definitions import Shape
from paywall.devstripe.errors import InvalidRequest

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def decode(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for raw_key, value in pairs:
        match = _KEY.match(raw_key)
        if not match:
            raise InvalidRequest(f"Invalid parameter name: {raw_key}", param=raw_key)
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        _put(root, parts, value, raw_key)
    decoded: dict[str, Any] = _lists(root)
    return decoded


def decode_body(body: str) -> dict[str, Any]:
    return decode(parse_qsl(body, keep_blank_values=True))


def _put(node: dict[str, Any], parts: list[str], value: str, raw_key: str) -> None:
    for part in parts[:-1]:
        key = part if part else str(_next_index(node))
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise InvalidRequest(f"Invalid parameter: {raw_key}", param=raw_key)
        node = child
    last = parts[-1] if parts[-1] else str(_next_index(node))
    node[last] = value


def _next_index(node: dict[str, Any]) -> int:
    return len(node)


def _lists(node: Any) -> Any:
    """Dicts whose keys are all 0..n-1 become lists (Stripe's `a[0]`, `a[1]` and `a[]`)."""
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        indexes = sorted(int(k) for k in converted)
        if indexes == list(range(len(indexes))):
            return [converted[str(i)] for i in indexes]
    return converted


class Spec:
    """The parameters an endpoint supports, named as Stripe names them. Each field is None (the
    whole parameter, as Stripe defines it), a nested Spec (only these of its fields) or a
    one-item list holding the rule for each item of a list parameter. Stripe's own definition
    (definitions.py) supplies everything else: nesting, types, and the names the emulator
    refuses because it does not support them."""

    def __init__(self, **fields: Any) -> None:
        self.fields = fields


ANY = None  # the whole parameter as Stripe defines it: how specs spell maps such as metadata


def allow(shape: Shape, rule: Any, path: str = "") -> Shape:
    """Stripe's shape of a parameter with the fields `rule` does not name marked unsupported.
    Naming something Stripe does not define is a mistake in the emulator: it fails loudly."""
    if rule is None:
        return shape
    if isinstance(rule, list):
        if shape.list_of is None:
            raise ValueError(f"Stripe's {path or 'parameters'} is not a list")
        return replace(shape, list_of=allow(shape.list_of, rule[0], f"{path}[]"))
    if shape.fields is None:
        raise ValueError(f"Stripe's {path or 'parameters'} has no fields")
    unknown = sorted(set(rule.fields) - set(shape.fields))
    if unknown:
        raise ValueError(f"Stripe defines no parameter {_join(path, unknown[0])}")
    fields = {
        name: allow(child, rule.fields[name], _join(path, name))
        if name in rule.fields
        else replace(child, supported=False)
        for name, child in shape.fields.items()
    }
    return replace(shape, fields=fields)


def check(value: Any, shape: Shape, path: str = "") -> None:
    """Refuse, as Stripe does (400, naming the parameter), what Stripe does not define, what it
    defines but the emulator does not support, and then values of the wrong kind. Every name
    is looked at before any value, so an unknown name is what a request hears about first."""
    _check_names(value, shape, path)
    _check_values(value, shape, path)


def _check_names(value: Any, shape: Shape, path: str) -> None:
    if isinstance(value, list) and shape.list_of is not None:
        for i, item in enumerate(value):
            _check_names(item, shape.list_of, f"{path}[{i}]")
    if not isinstance(value, dict):
        return
    if shape.fields is not None:
        for name, item in value.items():
            child = shape.fields.get(name)
            if child is None:
                raise InvalidRequest(
                    f"Received unknown parameter: {_join(path, name)}",
                    param=_join(path, name),
                    code="parameter_unknown",
                )
            if not child.supported:
                raise InvalidRequest(
                    f"The offline Stripe emulator does not support the parameter "
                    f"{_join(path, name)} (Stripe does): leave it out, or run against Stripe "
                    "test mode.",
                    param=_join(path, name),
                )
            _check_names(item, child, _join(path, name))
    else:
        inner = shape.map_of or shape.list_of
        for name, item in value.items():
            if inner is not None:
                _check_names(item, inner, _join(path, name))


def _check_values(value: Any, shape: Shape, path: str) -> None:
    if isinstance(value, dict):
        _check_hash(value, shape, path)
    elif isinstance(value, list):
        if shape.list_of is None:
            raise InvalidRequest(f"Invalid {_expected(shape)}: {path} (got an array)", param=path)
        for i, item in enumerate(value):
            _check_values(item, shape.list_of, f"{path}[{i}]")
    else:
        _check_scalar(value, shape, path)


def _check_hash(value: dict[str, Any], shape: Shape, path: str) -> None:
    if shape.fields is not None:
        missing = sorted(shape.required - set(value))
        if missing:
            name = _join(path, missing[0])
            raise InvalidRequest(f"Missing required param: {name}.", param=name)
        for name, item in value.items():
            _check_values(item, shape.fields[name], _join(path, name))
        return
    inner = shape.map_of or (
        shape.list_of if all(k.isdigit() for k in value) else None  # `a[1]` without `a[0]`
    )
    if inner is None:
        raise InvalidRequest(f"Invalid {_expected(shape)}: {path} (got a hash)", param=path)
    for name, item in value.items():
        _check_values(item, inner, _join(path, name))


def typed(value: Any, shape: Shape) -> Any:
    """Checked parameters as Stripe holds them: "true" is a boolean and "7" an integer where
    Stripe's definition says so, so hashes kept as sent (adjustable_quantity, portal features)
    answer with the types Stripe answers with. Strings stay strings."""
    if isinstance(value, dict):
        if shape.fields is not None:
            return {k: typed(v, shape.fields[k]) for k, v in value.items()}
        inner = shape.map_of or shape.list_of
        return {k: typed(v, inner) if inner else v for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v, shape.list_of) if shape.list_of else v for v in value]
    if value in shape.literals or "string" in shape.scalars:
        return value
    if "integer" in shape.scalars and _INTEGER.fullmatch(value):
        return int(value)
    if "boolean" in shape.scalars and value in ("true", "false"):
        return value == "true"
    return value


_INTEGER = re.compile(r"-?\d+")
_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)")


def _check_scalar(value: str, shape: Shape, path: str) -> None:
    if value in shape.literals or "string" in shape.scalars:
        return
    if "integer" in shape.scalars and _INTEGER.fullmatch(value):
        return
    if "number" in shape.scalars and _NUMBER.fullmatch(value):
        return
    if "boolean" in shape.scalars and value in ("true", "false"):
        return
    if "integer" in shape.scalars:
        raise InvalidRequest(f"Invalid integer: {value}", param=path)
    if "number" in shape.scalars:
        raise InvalidRequest(f"Invalid decimal: {value}", param=path)
    if "boolean" in shape.scalars:
        raise InvalidRequest(f"Invalid boolean: {value}", param=path)
    if shape.literals and not (shape.fields or shape.map_of or shape.list_of):
        allowed = ", ".join(sorted(v for v in shape.literals if v))
        raise InvalidRequest(f"Invalid {path}: must be one of {allowed}", param=path)
    raise InvalidRequest(f"Invalid {_expected(shape)}: {path}", param=path)


def _expected(shape: Shape) -> str:
    if shape.list_of is not None:
        return "array"
    if shape.fields is not None or shape.map_of is not None:
        return "object"
    return "string"


def _join(path: str, name: str) -> str:
    return f"{path}[{name}]" if path else name


class Params:
    """Typed reads of decoded parameters, with Stripe's error messages."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __contains__(self, name: str) -> bool:
        return name in self.data

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> Any:
        value = self.data.get(name)
        if value is None:
            if required:
                raise InvalidRequest(f"Missing required param: {name}.", param=name)
            return default
        if isinstance(value, bool):  # made typed by `typed`: read back as it was sent
            return "true" if value else "false"
        return str(value) if isinstance(value, int) else value

    def integer(self, name: str, default: int | None = None, *, required: bool = False) -> Any:
        value = self.text(name, required=required)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise InvalidRequest(f"Invalid integer: {value}", param=name) from None

    def flag(self, name: str, default: bool | None = None) -> Any:
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise InvalidRequest(f"Invalid boolean: {value}", param=name)

    def mapping(self, name: str) -> dict[str, Any]:
        value = self.data.get(name)
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise InvalidRequest(f"Invalid object: {name}", param=name)
        return value

    def array(self, name: str) -> list[Any]:
        value = self.data.get(name)
        if value in (None, ""):
            return []
        if isinstance(value, dict):  # a one-element `a[0]` we could not tell from a map
            return list(value.values())
        if not isinstance(value, list):
            return [value]
        return value

    def nested(self, name: str) -> Params:
        return Params(self.mapping(name))
