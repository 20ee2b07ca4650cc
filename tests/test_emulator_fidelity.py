"""The offline Stripe emulator checked against Stripe's own definitions: stripe-python 16's
`*Params` TypedDicts and resource classes, both generated from Stripe's OpenAPI spec.

Parameters: each emulator endpoint is a Stripe operation, and its allow-list is generated from
that operation's TypedDict (paywall/devstripe/definitions.py). Over HTTP, with stripe-python's
own encoding, it refuses every name Stripe does not define (at every level of nesting) and every
one Stripe defines that the emulator does not support; and it takes every parameter our code
sends (found in our source by tests/stripe_calls.py).

Answers: a scenario calls every endpoint. Every object answered, stored or sent in an event has
only the fields its resource class declares, of the declared types, has every field the class
says Stripe always sends, and carries every field our code reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import stripe

from paywall.devstripe import api, app  # noqa: F401 (app registers every api module's routes)
from paywall.devstripe.definitions import Operation, Shape, operation, params_shape
from paywall.devstripe.server import RunningEmulator
from tests import emulator_scenario
from tests.emulator_scenario import Scenario
from tests.stripe_calls import stripe_calls
from tests.stripe_types import declared_fields, declares, problems, resource_class

UNKNOWN = "zz_not_stripe"


@dataclass(frozen=True)
class Route:
    method: str
    rule: str
    operation: Operation
    allowed: Shape

    @property
    def key(self) -> str:
        return f"{self.method} {self.rule}"

    def url(self) -> str:
        return self.rule.replace("<id>", "x_probe")


ROUTES = [
    Route(method, rule, operation(method, rule), api.allowed(method, rule, spec))
    for method, rule, _, spec in api.ROUTES
]


def test_every_endpoint_is_the_stripe_operation_at_its_method_and_path() -> None:
    names = {route.key: route.operation.name for route in ROUTES}
    assert len(names) == len(ROUTES) >= 51
    assert names["POST /v1/customers"] == "customers.create"
    assert names["POST /v1/invoices/<id>/send"] == "invoices.send_invoice"
    assert names["GET /v1/checkout/sessions/<id>/line_items"] == "checkout.sessions.line_items.list"


# --- parameters ----------------------------------------------------------------------------


def supported_paths(shape: Shape, prefix: str = "") -> Iterator[tuple[str, Shape]]:
    """The parameters an allow-list supports, and each one's shape."""
    for path, child in _children(shape, prefix):
        if child.supported:
            yield path, child
            yield from supported_paths(child, path)


def unsupported_paths(shape: Shape, prefix: str = "") -> Iterator[str]:
    """Parameters Stripe defines that the emulator refuses: each one whose parent it supports."""
    for path, child in _children(shape, prefix):
        if child.supported:
            yield from unsupported_paths(child, path)
        else:
            yield path


def _children(shape: Shape, prefix: str) -> Iterator[tuple[str, Shape]]:
    for name, child in (shape.fields or {}).items():
        yield (f"{prefix}[{name}]" if prefix else name), child
    if shape.list_of is not None:
        yield from _children(shape.list_of, f"{prefix}[]")


def parts(path: str) -> list[str]:
    """`a[][b]` → ["a", "", "b"] ("" for a list's items)."""
    return re.findall(r"^[^\[]+|(?<=\[)[^\]]*(?=\])", path)


def nest(path: str, leaf: Any) -> dict[str, Any]:
    """The params that reach a path: `a[][b]` with "1" is {"a": [{"b": "1"}]}."""
    first, *rest = parts(path)
    value = leaf
    for part in reversed(rest):
        value = [value] if part == "" else {part: value}
    return {first: value}


def lookup(shape: Shape, path: str, *, supported: bool) -> Shape | None:
    """The shape at a path (any key of a map such as metadata), or None where it has none;
    with `supported`, also None past a parameter the emulator does not support."""
    node: Shape | None = shape
    for part in parts(path):
        if node is None:
            return None
        if part == "":
            node = node.list_of
        elif node.fields is not None:
            node = node.fields.get(part)
        else:
            node = node.map_of
        if supported and node is not None and not node.supported:
            return None
    return node


def sent(path: str) -> str:
    """How Stripe names a path in an error: list positions filled in, `a[][b]` is `a[0][b]`."""
    return path.replace("[]", "[0]")


@pytest.fixture(scope="module")
def probe() -> Iterator[stripe.StripeClient]:
    emulator = RunningEmulator().start()
    try:
        yield stripe.StripeClient(emulator.api_key, base_addresses={"api": emulator.url})
    finally:
        emulator.stop()


def refusal(client: stripe.StripeClient, route: Route, params: dict[str, Any]) -> Any:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.raw_request(route.method.lower(), route.url(), **params)
    assert refused.value.http_status == 400
    return refused.value


def test_each_endpoint_refuses_names_stripe_does_not_define_at_every_level(
    probe: stripe.StripeClient,
) -> None:
    probes = 0
    for route in ROUTES:
        hashes = [("", route.allowed)] + [
            (path, shape) for path, shape in supported_paths(route.allowed) if shape.fields
        ]
        for path, _ in hashes:
            where = f"{path}[{UNKNOWN}]" if path else UNKNOWN
            error = refusal(probe, route, nest(where, "1"))
            assert (error.code, error.param) == ("parameter_unknown", sent(where)), route.key
            assert error.user_message == f"Received unknown parameter: {sent(where)}"
            probes += 1
    assert probes >= len(ROUTES)


def test_each_endpoint_refuses_what_stripe_defines_but_the_emulator_does_not_support(
    probe: stripe.StripeClient,
) -> None:
    probes = 0
    for route in ROUTES:
        for path in unsupported_paths(route.allowed):
            error = refusal(probe, route, nest(path, "1"))
            assert error.param == sent(path), route.key
            assert "emulator does not support the parameter" in error.user_message
            probes += 1
    assert probes > 100


def test_every_parameter_the_emulator_supports_is_one_stripe_defines() -> None:
    for route in ROUTES:
        stripe_params = params_shape(route.operation.params)
        for path, _ in supported_paths(route.allowed):
            assert lookup(stripe_params, path, supported=False), f"{route.key}: {path}"


def test_the_emulator_takes_every_parameter_our_code_sends() -> None:
    calls = stripe_calls()
    routes = {route.operation.name: route for route in ROUTES}
    assert len(calls) >= 30 and {c.where.split("/")[1] for c in calls} >= {"billing", "teams"}
    for call in calls:
        name = call.operation.name
        assert not call.unknown, f"{call.where}: cannot tell what {call.unknown} sends"
        assert name in routes, f"{call.where}: the emulator has no {name}"
        for path in call.paths:
            stripe_params = params_shape(call.operation.params)
            assert lookup(stripe_params, path, supported=False), f"Stripe's {name} has no {path}"
            assert lookup(routes[name].allowed, path, supported=True), (
                f"{call.where}: the emulator does not support {name} {path}"
            )


# --- answers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scenario() -> Iterator[Scenario]:
    yield from emulator_scenario.run()


def test_the_scenario_calls_every_endpoint(scenario: Scenario) -> None:
    called = {a.route for a in scenario.ok()}
    assert {route.key for route in ROUTES} - called == set()


def test_every_answer_has_only_fields_stripe_declares_of_the_declared_types(
    scenario: Scenario,
) -> None:
    found = [p for a in scenario.ok() for p in problems(a.body, str(a.route))]
    assert found == []


def test_every_object_the_emulator_holds_or_sends_in_an_event_is_as_declared(
    scenario: Scenario,
) -> None:
    found = [p for obj in scenario.objects for p in problems(obj)]
    for event in scenario.events:
        found += problems(event, event["type"])
        sent_object = event["data"]["object"]
        found += problems(sent_object, f"{event['type']} data.object")
        fields = declared_fields(resource_class(sent_object["object"]))
        changed = event["data"].get("previous_attributes") or {}
        found += [f"{event['type']} previous_attributes.{k}" for k in changed if k not in fields]
    assert found == []


def test_each_endpoint_answers_the_resource_its_operation_returns(scenario: Scenario) -> None:
    returns = {route.key: route.operation.returns for route in ROUTES}
    for answer in scenario.ok():
        declared = str(returns[str(answer.route)])
        listed = re.fullmatch(r"ListObject\[(\w+)\]", declared)
        body = answer.body
        if listed:
            assert body["object"] == "list", answer.route
            kinds = {resource_class(item["object"]).__name__ for item in body["data"]}
            assert kinds <= {listed.group(1)}, answer.route
        else:
            assert resource_class(body["object"]).__name__ == declared, answer.route


# What our code reads from Stripe's answers (grep paywall/billing and paywall/teams for reads of
# subscriptions, invoices, sessions, …): `a.b` is a nested field, `items.data.x` each item's x.
READS = {
    "subscription": [
        "id", "status", "customer", "metadata", "collection_method", "latest_invoice",
        "trial_start", "trial_end", "cancel_at_period_end", "cancel_at", "canceled_at",
        "ended_at", "start_date", "default_payment_method", "items.data.id",
        "items.data.quantity", "items.data.price.id", "items.data.price.lookup_key",
        "items.data.current_period_start", "items.data.current_period_end",
    ],
    "invoice": [
        "id", "status", "number", "currency", "total", "amount_paid", "amount_due", "customer",
        "created", "due_date", "billing_reason", "hosted_invoice_url", "invoice_pdf",
        "next_payment_attempt", "parent.subscription_details.subscription",
    ],
    "customer": ["id", "email", "invoice_settings.default_payment_method"],
    "payment_method": ["id", "customer", "card.fingerprint", "card.last4", "card.brand"],
    "checkout.session": [
        "id", "url", "status", "mode", "customer", "subscription", "client_reference_id",
        "setup_intent",
    ],
    "billing_portal.session": ["url", "customer", "configuration"],
    "billing_portal.configuration": ["id", "metadata"],
    "price": ["id", "active", "unit_amount", "lookup_key", "recurring.interval", "product"],
    "product": ["id"],
    "event": ["id", "type", "created", "data.object"],
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(READS))
def test_every_field_our_code_reads_is_declared_and_there(scenario: Scenario, kind: str) -> None:
    objects = list(scenario.of_kind(kind)) + (scenario.events if kind == "event" else [])
    assert objects, f"the scenario has no {kind}"
    cls = resource_class(kind)
    for path in READS[kind]:
        assert declares(cls, path.split(".")), f"{kind}.{path} is not a Stripe field"
        for obj in objects:
            assert _present(obj, path.split(".")), f"{kind} {obj['id']} has no {path}"


def _present(value: Any, names: list[str]) -> bool:
    """The path is there (null or an unexpanded id ends it early: nothing more to read)."""
    if not names or value is None or isinstance(value, str):
        return True
    if isinstance(value, list):
        return all(_present(item, names) for item in value)
    return isinstance(value, dict) and names[0] in value and _present(value[names[0]], names[1:])
