"""Checks a JSON object against the stripe-python resource class that describes it.

stripe-python's resource classes (`stripe.Customer`, `stripe.Subscription`, …) are generated from
Stripe's OpenAPI spec and annotate every field: `Optional[...]` where Stripe may send null,
`ExpandableField[X]` (an id or the object), `ListObject[X]`, nested classes for nested hashes.
`problems(body)` lists where an answer differs: a field the class does not declare, a value of
another type, a null where the class does not allow one, a field the class requires missing.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import re
import sys
import types
import typing
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, ForwardRef, Literal, TypeVar, Union

from stripe._list_object import ListObject
from stripe._object_classes import OBJECT_CLASSES
from stripe._stripe_object import StripeObject, UntypedStripeObject

DECIMAL = re.compile(r"-?\d+(\.\d+)?")
SCALARS: dict[Any, tuple[type, ...]] = {
    str: (str,),
    int: (int,),
    float: (int, float),
    bool: (bool,),
}


def resource_class(object_name: str) -> Any:
    """The class stripe-python builds for an `object` value (as its own deserializer does)."""
    module, name = OBJECT_CLASSES[object_name]
    return getattr(importlib.import_module(module), name)


def problems(body: dict[str, Any], where: str = "") -> list[str]:
    """Every way a JSON object with an `object` field differs from its resource class."""
    found: list[str] = []
    _object(body, resource_class(body["object"]), where or body["object"], found)
    return found


def declared_fields(cls: Any) -> dict[str, Any]:
    """A StripeObject class's fields and their types, forward references resolved."""
    return dict(_fields(cls))


def declares(cls: Any, parts: list[str]) -> bool:
    """Whether a field path (["items", "data", "price", "id"]) is declared, from a class down:
    through nullable and expandable fields, list objects (`data`) and maps (any key)."""
    hint: Any = cls
    for part in parts:
        hint = _object_type(hint)
        if typing.get_origin(hint) is ListObject and part == "data":
            hint = typing.get_args(hint)[0]
        elif inspect.isclass(hint) and issubclass(hint, StripeObject):
            fields = declared_fields(hint)
            if part not in fields:
                return False
            hint = fields[part]
        elif typing.get_origin(hint) in (dict, UntypedStripeObject):
            hint = typing.get_args(hint)[-1]
        else:
            return False
    return True


def _object_type(hint: Any) -> Any:
    """What an object-valued field holds: `Optional[X]` and `ExpandableField[X]` (an id or
    X) both mean X."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a not in (type(None), str)]
        return options[0] if len(options) == 1 else hint
    return hint


def _fields(cls: Any) -> Iterator[tuple[str, Any]]:
    for name, hint in inspect.get_annotations(cls).items():
        if name.startswith("_") or typing.get_origin(hint) is typing.ClassVar:
            continue
        yield name, _resolve(hint, cls.__module__)


def _object(value: Any, cls: Any, path: str, found: list[str]) -> None:
    if not isinstance(value, dict):
        found.append(f"{path}: {_kind(value)}, the class {cls.__name__} says an object")
        return
    fields = declared_fields(cls)
    object_name = getattr(cls, "OBJECT_NAME", None)
    if isinstance(object_name, str):
        fields["object"] = Literal[object_name]  # type: ignore[valid-type]
    for name, item in value.items():
        if name not in fields:
            found.append(f"{path}.{name}: not a field of {cls.__qualname__}")
        else:
            _value(item, fields[name], f"{path}.{name}", found)
    if value.get("deleted") is True:
        return  # a deleted object keeps only its id, object and `deleted`
    for name, hint in fields.items():
        if name not in value and not _nullable(hint):
            found.append(f"{path}.{name}: missing, and {cls.__qualname__} always has it")


def _list(value: Any, item_type: Any, path: str, found: list[str]) -> None:
    if not isinstance(value, dict) or value.get("object") != "list":
        found.append(f"{path}: {_kind(value)}, stripe-python says a list object")
        return
    fields = {"object": Literal["list"], "data": list[item_type], "has_more": bool, "url": str}  # type: ignore[valid-type]
    for name, item in value.items():
        if name not in fields:
            found.append(f"{path}.{name}: not a field of a list object")
        else:
            _value(item, fields[name], f"{path}.{name}", found)
    found.extend(f"{path}.{name}: missing" for name in fields if name not in value)


def _value(value: Any, hint: Any, path: str, found: list[str]) -> None:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        if isinstance(value, dict) and value.get("object") in OBJECT_CLASSES:
            _object(value, resource_class(value["object"]), path, found)  # a list's items
        return
    if value is None:
        if not _nullable(hint):
            found.append(f"{path}: null, and stripe-python does not allow null here")
        return
    if origin in (Union, types.UnionType):
        _union(value, [a for a in args if a is not type(None)], path, found)
    elif origin is Literal:
        if value not in args:
            found.append(f"{path}: {value!r}, stripe-python knows only {list(args)}")
    elif hint is Decimal:  # sent as a decimal string (stripe-python's `decimal_string`)
        if not isinstance(value, str) or not DECIMAL.fullmatch(value):
            found.append(f"{path}: {value!r}, stripe-python says a decimal string")
    elif hint in SCALARS:
        if not isinstance(value, SCALARS[hint]) or (hint is not bool and isinstance(value, bool)):
            found.append(f"{path}: {_kind(value)}, stripe-python says {hint.__name__}")
    elif origin in (list, typing.List):  # noqa: UP006
        if not isinstance(value, list):
            found.append(f"{path}: {_kind(value)}, stripe-python says a list")
        else:
            for i, item in enumerate(value):
                _value(item, args[0], f"{path}[{i}]", found)
    elif origin is ListObject:
        _list(value, args[0], path, found)
    elif origin in (dict, typing.Dict) or origin is UntypedStripeObject:  # noqa: UP006
        if not isinstance(value, dict):
            found.append(f"{path}: {_kind(value)}, stripe-python says a map")
        else:
            for key, item in value.items():
                _value(item, args[-1], f"{path}.{key}", found)
    elif inspect.isclass(hint) and issubclass(hint, StripeObject):
        _object(value, hint, path, found)
    else:
        found.append(f"{path}: no check for the type {hint!r}")


def _union(value: Any, options: list[Any], path: str, found: list[str]) -> None:
    """One option must fit; when none does, report the one closest in kind."""
    attempts = []
    for option in options:
        attempt: list[str] = []
        _value(value, option, path, attempt)
        if not attempt:
            return
        attempts.append(attempt)
    found.extend(min(attempts, key=len))


def _nullable(hint: Any) -> bool:
    return hint is Any or (
        typing.get_origin(hint) in (Union, types.UnionType) and type(None) in typing.get_args(hint)
    )


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


# --- forward references --------------------------------------------------------------------


def _resolve(hint: Any, module: str) -> Any:
    """The hint with each ForwardRef('Name') replaced by the class `module` means by Name."""
    if isinstance(hint, str):
        hint = ForwardRef(hint)
    if isinstance(hint, ForwardRef):
        return _resolve(eval(hint.__forward_arg__, {}, _Names(module)), module)  # noqa: S307
    if isinstance(hint, TypeVar):
        return Any
    args, origin = typing.get_args(hint), typing.get_origin(hint)
    if not args or origin is Literal:
        return hint
    resolved = tuple(_resolve(a, module) for a in args)
    if origin in (Union, types.UnionType):
        return Union[resolved]  # noqa: UP007
    if origin is list:
        return list[resolved[0]]  # type: ignore[valid-type]
    if origin is dict:
        return dict[resolved[0], resolved[1]]  # type: ignore[valid-type]
    return origin[resolved]


class _Names(dict[str, Any]):
    """Names as `module` sees them, including those it imports only for type checkers."""

    def __init__(self, module: str) -> None:
        super().__init__()
        self.module = module

    def __missing__(self, name: str) -> Any:
        namespace = vars(sys.modules[self.module])
        if name in namespace:
            return namespace[name]
        if hasattr(typing, name):
            return getattr(typing, name)
        source, attribute = _type_checking_imports(self.module)[name]
        return getattr(importlib.import_module(source), attribute)


@functools.cache
def _type_checking_imports(module: str) -> dict[str, tuple[str, str]]:
    tree = ast.parse(inspect.getsource(sys.modules[module]))
    return {
        alias.asname or alias.name: (node.module or "", alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
