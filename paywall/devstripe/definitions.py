"""Stripe's own definitions of its API, read from stripe-python, which is generated from Stripe's
OpenAPI spec (https://github.com/stripe/openapi): which operation answers a method and path,
the parameters it takes (its `*Params` TypedDict) and the resource it returns.

The emulator builds its parameter allow-lists from these (params.py), and
tests/test_emulator_fidelity.py checks its answers against the resource classes.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Union

import typing_extensions
from stripe._request_options import RequestOptions
from stripe._stripe_object import UntypedStripeObject
from stripe._v1_services import V1Services
from stripe._v1_services import _subservices as V1_SERVICES

ID = "ID0"  # a placeholder id, found again in the path an operation requests
# The per-request options (api_key, idempotency_key, …) every *Params TypedDict inherits:
# stripe-python sends them as headers, never as parameters.
OPTIONS = frozenset(RequestOptions.__annotations__)
OPTIONS_NAMES = vars(sys.modules[RequestOptions.__module__])
SCALARS = {str: "string", int: "integer", float: "number", Decimal: "number", bool: "boolean"}


@dataclass(frozen=True)
class Operation:
    """One API operation as stripe-python calls it: `customers.create` is POST /v1/customers."""

    name: str
    method: str
    path: str  # the emulator's spelling: /v1/customers/<id>
    params: Any  # the *Params TypedDict
    returns: Any  # the return annotation (a resource class, ListObject[…], …) as written


@dataclass(eq=False)
class Shape:
    """What one parameter may be, as Stripe defines it: any of some scalars (`string` means any
    string), some fixed strings (`literals`, where '' means "unset"), a hash with named
    `fields`, a hash of any keys whose values are `map_of`, or a list of `list_of`."""

    scalars: set[str] = field(default_factory=set)
    literals: set[str] = field(default_factory=set)
    fields: dict[str, Shape] | None = None
    map_of: Shape | None = None
    list_of: Shape | None = None
    required: set[str] = field(default_factory=set)  # fields a hash must have
    supported: bool = True  # False: Stripe defines it, the emulator refuses it (params.allow)

    def walk(self, prefix: str = "") -> typing.Iterator[tuple[str, Shape]]:
        """Every parameter path below this one (`items[][price]`), with its shape."""
        for name, child in (self.fields or {}).items():
            path = f"{prefix}[{name}]" if prefix else name
            yield path, child
            yield from child.walk(path)
        if self.list_of is not None:
            yield from self.list_of.walk(f"{prefix}[]")


# --- operations ----------------------------------------------------------------------------


@functools.cache
def operations() -> dict[tuple[str, str], Operation]:
    """Every v1 operation stripe-python knows, by (method, path)."""
    found: dict[tuple[str, str], Operation] = {}
    recorder = _Recorder()
    root: Any = V1Services  # untyped in stripe-python: it takes any requestor
    for name, service in _services("", V1_SERVICES, root(recorder)):
        for operation in _operations_of(name, service, recorder):
            found.setdefault((operation.method, operation.path), operation)
    return found


def operation(method: str, path: str) -> Operation:
    found = operations().get((method.upper(), path))
    if found is None:
        raise LookupError(f"Stripe has no operation {method} {path} (stripe-python knows none)")
    return found


class _Recorder:
    """Stands in for stripe-python's requestor: notes where a request would go, sends nothing."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> None:
        self.seen.append((method.upper(), url))

    request_stream = request


def _services(prefix: str, table: dict[str, list[str]], parent: Any) -> typing.Iterator[Any]:
    for name, (module_name, _) in table.items():
        service = getattr(parent, name)
        yield f"{prefix}{name}", service
        nested = getattr(importlib.import_module(module_name), "_subservices", None)
        if nested:
            yield from _services(f"{prefix}{name}.", nested, service)


def _operations_of(
    service_name: str, service: Any, recorder: _Recorder
) -> typing.Iterator[Operation]:
    """Call each of the service's methods on the recorder, to learn where each one goes."""
    for method_name, function in inspect.getmembers(type(service), inspect.isfunction):
        if method_name.startswith("_") or method_name.endswith("_async"):
            continue
        signature = inspect.signature(function)
        if "params" not in signature.parameters:
            continue
        ids = [
            ID
            for p in list(signature.parameters.values())[1:]
            if p.kind is inspect.Parameter.POSITIONAL_ONLY
        ]
        recorder.seen.clear()
        function(service, *ids, params={})
        if not recorder.seen or not recorder.seen[0][1].startswith("/v1/"):
            continue
        method, url = recorder.seen[0]
        module = importlib.import_module(type(service).__module__)
        yield Operation(
            name=f"{service_name}.{method_name}",
            method=method,
            path=url.replace(ID, "<id>"),
            params=_params_class(module, signature.parameters["params"].annotation),
            returns=signature.return_annotation,
        )


def _params_class(module: types.ModuleType, annotation: Any) -> Any:
    """The TypedDict an annotation like `Optional["CustomerCreateParams"]` names: stripe-python
    imports it only for type checkers, from stripe.params (or its namespace, e.g. checkout)."""
    text = annotation if isinstance(annotation, str) else repr(annotation)
    match = re.search(r"(\w+Params)\b", text)
    if not match:
        raise LookupError(f"no params class in {text!r}")
    namespace = module.__name__.rsplit(".", 1)[0].removeprefix("stripe").lstrip(".")
    params = importlib.import_module("stripe.params" + (f".{namespace}" if namespace else ""))
    return getattr(params, match.group(1))


# --- parameter shapes ----------------------------------------------------------------------


@functools.cache
def params_shape(params_class: Any) -> Shape:
    """The parameters an operation takes, as one hash Shape (request options left out)."""
    return _typed_dict(params_class)


def _typed_dict(cls: Any) -> Shape:
    # A TypedDict's inherited annotations (the request options) are evaluated in its own
    # module: lend them the names of the module that wrote them (StripeContext is imported
    # there for type checkers only).
    hints = typing.get_type_hints(cls, localns={**OPTIONS_NAMES, "StripeContext": object})
    names = set(hints) - OPTIONS if RequestOptions in _bases(cls) else set(hints)
    return Shape(
        fields={name: shape_of(hints[name]) for name in sorted(names)},
        required=set(cls.__required_keys__) & names,
    )


def _bases(cls: Any) -> tuple[Any, ...]:
    return tuple(getattr(cls, "__orig_bases__", ()))


def shape_of(hint: Any) -> Shape:
    """The Shape of a type annotation from a *Params TypedDict."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in SCALARS:
        return Shape(scalars={SCALARS[hint]})
    if hint is Any:
        return Shape(scalars=set(SCALARS.values()), map_of=Shape(scalars={"string"}))
    if origin is Literal:
        return Shape(literals={str(a) for a in args})
    if origin in (Union, types.UnionType):
        return _union([shape_of(a) for a in args if a is not type(None)])
    if origin in (list, typing.List):  # noqa: UP006
        return Shape(list_of=shape_of(args[0]))
    if origin in (dict, typing.Dict) or origin is UntypedStripeObject:  # noqa: UP006
        return Shape(map_of=shape_of(args[-1]))
    if typing_extensions.is_typeddict(hint):
        return _typed_dict(hint)
    raise TypeError(f"no parameter shape for {hint!r}")


def _union(shapes: list[Shape]) -> Shape:
    merged = Shape()
    for shape in shapes:
        merged.scalars |= shape.scalars
        merged.literals |= shape.literals
        if shape.fields is not None:
            merged.fields = {**(merged.fields or {}), **shape.fields}
            merged.required |= shape.required
        merged.map_of = merged.map_of or shape.map_of
        merged.list_of = merged.list_of or shape.list_of
    return merged
