"""Every Stripe call our code makes, read from its source: which operation, and which parameter
paths it can send (`line_items[][price]`, `metadata[user_id]`).

Two spellings of a call are found:
- `<client>.v1.<service>.<method>(ids…, params, …)`, as stripe-python is called;
- a call to any of our functions with a parameter typed as a stripe-python `*Params` TypedDict
  (a typed gateway function such as `create_customer(params: CustomerCreateParams)`).
A params argument may be a dict literal, or a name bound in the same function to one (then
grown by `name["key"] = …`), or a parameter of that function, followed to the calls of it in the
same module. What cannot be followed is reported, not guessed.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typing_extensions

from paywall.devstripe.definitions import Operation, operations

ROOT = Path(__file__).resolve().parent.parent
OURS = ROOT / "paywall"
SKIP = ("devstripe",)  # the emulator answers Stripe calls; it makes none


@dataclass
class Call:
    where: str  # paywall/billing/service.py:27
    operation: Operation
    paths: set[str] = field(default_factory=set)
    unknown: list[str] = field(default_factory=list)  # what could not be followed


def stripe_calls() -> list[Call]:
    calls: list[Call] = []
    for path in sorted(OURS.rglob("*.py")):
        if any(part in SKIP for part in path.relative_to(OURS).parts):
            continue
        calls.extend(_Module(path).calls())
    return calls


def by_name() -> dict[str, Operation]:
    return {op.name: op for op in operations().values()}


def by_params_class() -> dict[Any, Operation]:
    return {op.params: op for op in operations().values()}


class _Module:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.tree = ast.parse(path.read_text(encoding="utf-8"))
        self.name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        self.functions = {
            node.name: node
            for node in ast.walk(self.tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        self.parents = {
            child: node for node in ast.walk(self.tree) for child in ast.iter_child_nodes(node)
        }

    def calls(self) -> Iterator[Call]:
        for node in ast.walk(self.tree):
            if not isinstance(node, ast.Call):
                continue
            found = self._v1_call(node) or self._typed_call(node)
            if found is None:
                continue
            operation, argument = found
            call = Call(f"{self.path.relative_to(ROOT)}:{node.lineno}", operation)
            if argument is not None:
                self._paths(argument, "", call, depth=0)
            yield call

    # --- which operation ----------------------------------------------------------------

    def _v1_call(self, node: ast.Call) -> tuple[Operation, ast.expr | None] | None:
        chain = _attribute_chain(node.func)
        if "v1" not in chain:
            return None
        name = ".".join(chain[chain.index("v1") + 1 :])
        operation = by_name().get(name)
        if operation is None:
            raise LookupError(f"{self.path}:{node.lineno}: stripe-python has no v1.{name}")
        ids = operation.path.count("<id>")
        argument = node.args[ids] if len(node.args) > ids else _keyword(node, "params")
        if isinstance(argument, ast.Name) and self._typed_parameter(node, argument.id):
            return None  # a typed gateway function: its callers are found by _typed_call
        return operation, argument

    def _typed_call(self, node: ast.Call) -> tuple[Operation, ast.expr | None] | None:
        function = self._runtime_function(node.func)
        if function is None:
            return None
        positions = list(inspect.signature(function).parameters)
        for name, hint in _hints(function).items():
            operation = by_params_class().get(hint)
            if operation is not None:
                index = positions.index(name)
                argument = node.args[index] if len(node.args) > index else _keyword(node, name)
                return operation, argument
        return None

    def _runtime_function(self, func: ast.expr) -> Any:
        chain = _attribute_chain(func)
        if not chain or "v1" in chain:
            return None
        try:
            target: Any = importlib.import_module(self.name)
            for part in chain:
                target = inspect.getattr_static(target, part)
        except (AttributeError, ImportError):
            return None
        return target if inspect.isfunction(target) else None

    def _typed_parameter(self, node: ast.AST, name: str) -> bool:
        function = self._enclosing(node)
        if function is None or not any(a.arg == name for a in _arguments(function)):
            return False
        runtime = getattr(importlib.import_module(self.name), function.name, None)
        return runtime is not None and _hints(runtime).get(name) in by_params_class()

    # --- which parameters ---------------------------------------------------------------

    def _paths(self, node: ast.expr, prefix: str, call: Call, depth: int) -> None:
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if key is None:  # **spread
                    self._paths(value, prefix, call, depth)
                elif isinstance(key, ast.Constant) and isinstance(key.value, str):
                    path = f"{prefix}[{key.value}]" if prefix else key.value
                    call.paths.add(path)
                    self._paths(value, path, call, depth)
                else:
                    call.unknown.append(f"{prefix}[{ast.unparse(key)}]")
        elif isinstance(node, ast.List | ast.Tuple):
            for item in node.elts:
                self._paths(item, f"{prefix}[]", call, depth)
        elif isinstance(node, ast.Name) and depth < 3:
            self._name(node, prefix, call, depth)
        elif not prefix:
            call.unknown.append(ast.unparse(node))

    def _name(self, node: ast.Name, prefix: str, call: Call, depth: int) -> None:
        """A name holding params: its dict literal and `name[...] = …` in the same function;
        a parameter of the function: the arguments its callers in this module pass."""
        function = self._enclosing(node)
        scope: ast.AST = function or self.tree
        bound = False
        for statement in ast.walk(scope):
            value = _assigned(statement, node.id)
            if value is not None:
                bound = True
                self._paths(value, prefix, call, depth + 1)
            keys = _subscript_assigned(statement, node.id)
            if keys is not None:
                bound = True
                path = prefix
                for key in keys:
                    path = f"{path}[{key}]" if path else key
                    call.paths.add(path)
        if bound or function is None:
            if not bound and prefix == "":
                call.unknown.append(node.id)
            return
        names = [a.arg for a in _arguments(function)]
        if node.id not in names:
            if prefix == "":
                call.unknown.append(node.id)
            return
        position = names.index(node.id)
        callers = [
            c
            for c in ast.walk(self.tree)
            if isinstance(c, ast.Call) and _attribute_chain(c.func) == [function.name]
        ]
        if not callers and prefix == "":
            call.unknown.append(f"{node.id} (no caller of {function.name} in this module)")
        for caller in callers:
            argument = (
                caller.args[position] if len(caller.args) > position else _keyword(caller, node.id)
            )
            if argument is not None:
                self._paths(argument, prefix, call, depth + 1)

    def _enclosing(self, node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                return node
        return None


def _attribute_chain(node: ast.expr) -> list[str]:
    """`gateway.client().v1.customers.create` → ["gateway", "client", "v1", "customers", …]."""
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            return parts[::-1]
        else:
            return parts[::-1]


def _keyword(node: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in node.keywords if k.arg == name), None)


def _arguments(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    return [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]


def _assigned(statement: ast.AST, name: str) -> ast.expr | None:
    if isinstance(statement, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == name for t in statement.targets
    ):
        return statement.value
    if (
        isinstance(statement, ast.AnnAssign)
        and isinstance(statement.target, ast.Name)
        and statement.target.id == name
    ):
        return statement.value
    return None


def _subscript_assigned(statement: ast.AST, name: str) -> list[str] | None:
    """`name["a"]["b"] = …` → ["a", "b"]."""
    if not isinstance(statement, ast.Assign):
        return None
    for target in statement.targets:
        keys: list[str] = []
        while isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant):
            keys.append(str(target.slice.value))
            target = target.value
        if keys and isinstance(target, ast.Name) and target.id == name:
            return keys[::-1]
    return None


def _hints(function: Any) -> dict[str, Any]:
    """A function's parameter annotations that are stripe-python params TypedDicts."""
    try:
        hints = typing.get_type_hints(function)
    except (NameError, TypeError):
        return {}
    return {
        name: hint
        for name, hint in hints.items()
        if name != "return" and typing_extensions.is_typeddict(hint)
    }
