"""Stripe's request encoding: form bodies (and query strings) with nested keys.

`line_items[0][price]=p&expand[]=a&metadata[k]=v` becomes
`{"line_items": [{"price": "p"}], "expand": ["a"], "metadata": {"k": "v"}}`. Values stay
strings; each endpoint converts what it reads (see `Params`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

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
    """What an endpoint accepts. `fields` maps a name to None (a scalar), a nested Spec, ANY
    (any map, like metadata) or a one-item list holding the spec of each list element."""

    def __init__(self, **fields: Any) -> None:
        self.fields = fields


ANY = object()


def check(params: dict[str, Any], spec: Spec, prefix: str = "") -> None:
    """Refuse unknown parameters as Stripe does: 400, naming the first one."""
    for name, value in params.items():
        path = f"{prefix}[{name}]" if prefix else name
        if name not in spec.fields:
            raise InvalidRequest(f"Received unknown parameter: {path}", param=path)
        rule = spec.fields[name]
        if rule is ANY or rule is None:
            if rule is None and isinstance(value, dict | list):
                raise InvalidRequest(
                    f"Invalid value for {path}: expected a string, got a hash or array", param=path
                )
            continue
        if isinstance(rule, list):
            items = value if isinstance(value, list) else None
            if items is None:
                raise InvalidRequest(f"Invalid array: {path}", param=path)
            for i, item in enumerate(items):
                if isinstance(rule[0], Spec):
                    if not isinstance(item, dict):
                        raise InvalidRequest(f"Invalid object: {path}[{i}]", param=f"{path}[{i}]")
                    check(item, rule[0], f"{path}[{i}]")
            continue
        if not isinstance(value, dict):
            if value == "":  # Stripe: an empty string unsets a hash
                continue
            raise InvalidRequest(f"Invalid object: {path}", param=path)
        check(value, rule, path)


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
        return value

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
