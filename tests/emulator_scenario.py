"""A scenario for tests/test_emulator_fidelity.py: the emulator driven through every endpoint
(the contract checks, then what they leave out), with every API answer it gave recorded."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import stripe
from flask import Flask
from werkzeug.exceptions import HTTPException

from paywall.devstripe.server import RunningEmulator
from paywall.devstripe.store import public
from tests.stripe_contract import CHECKS, make_customer, make_price, tag

GOOD_CARD = {"card_number": "4242 4242 4242 4242", "card_exp": "12/34", "card_cvc": "123"}
EXPAND_ALL = ["customer", "latest_invoice", "default_payment_method"]


@dataclass(frozen=True)
class Answer:
    route: str | None  # "POST /v1/customers"
    status: int
    body: Any


class Recorder:
    """WSGI middleware keeping every API answer the emulator gives."""

    def __init__(self, wrapped: Flask) -> None:
        self.wrapped = wrapped
        self.answers: list[Answer] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        statuses: list[str] = []

        def start(status: str, headers: Any, exc_info: Any = None) -> Any:
            statuses.append(status)
            return start_response(status, headers, exc_info)

        body = b"".join(self.wrapped(environ, start))
        path = environ["PATH_INFO"]
        if path.startswith("/v1/"):
            try:
                route, _ = self.wrapped.url_map.bind("emulator").match(
                    path, environ["REQUEST_METHOD"]
                )
            except HTTPException:
                route = None
            self.answers.append(Answer(route, int(statuses[0][:3]), json.loads(body)))
        return [body]


@dataclass
class Scenario:
    answers: list[Answer]
    objects: list[dict[str, Any]]  # every object the emulator holds, as it would answer it
    events: list[dict[str, Any]]

    def ok(self) -> list[Answer]:
        return [a for a in self.answers if a.status == 200]

    def of_kind(self, kind: str) -> Iterator[dict[str, Any]]:
        """Every answered, stored or sent object of a kind (list items included)."""
        bodies = [a.body for a in self.ok()] + self.objects
        bodies += [e["data"]["object"] for e in self.events]
        for body in bodies:
            for item in body.get("data", []) if body.get("object") == "list" else [body]:
                if (
                    isinstance(item, dict)
                    and item.get("object") == kind
                    and not item.get("deleted")
                ):
                    yield item


def run() -> Iterator[Scenario]:
    """Start an emulator, drive it, and give what it answered, holds and sent."""
    emulator = RunningEmulator(retry_backoff=0.05, max_backoff=0.2).start()
    flask_app = emulator.server.app
    recorder = Recorder(flask_app)  # type: ignore[arg-type]
    emulator.server.app = recorder  # type: ignore[assignment]
    try:
        client = stripe.StripeClient(emulator.api_key, base_addresses={"api": emulator.url})
        for check in CHECKS:
            check(client, tag())
        _everything_else(client, flask_app.test_client())  # type: ignore[attr-defined]
        with emulator.store.lock:
            objects = [public(o) for o in emulator.store.objects.values() if not o.get("_deleted")]
        yield Scenario(
            recorder.answers,
            [o for o in objects if o["object"] != "event"],
            [o for o in objects if o["object"] == "event"],
        )
    finally:
        emulator.stop()


def _everything_else(client: stripe.StripeClient, browser: Any) -> None:
    """What the contract checks leave out: finished Checkouts (trial, seats, setup), a renewal
    whose card fails, a deleted customer, and the endpoints no check calls."""
    price = make_price(client, tag())
    trial = client.v1.checkout.sessions.create({
        "mode": "subscription", "line_items": [{"price": price.id, "quantity": 1}],
        "subscription_data": {"trial_period_days": 7, "metadata": {"user_id": "5"}},
        "success_url": "http://127.0.0.1:5000/billing/success?session_id={CHECKOUT_SESSION_ID}",
        "customer_email": "trial@example.com",
    })  # fmt: skip
    assert _pay_hosted(browser, trial.url, email="trial@example.com") == 303
    org = make_customer(client, tag(), card=None)
    seats = client.v1.checkout.sessions.create({
        "mode": "subscription", "customer": org.id, "success_url": "http://127.0.0.1:5000/team",
        "line_items": [{"price": price.id, "quantity": 5,
                        "adjustable_quantity": {"enabled": True, "minimum": 1, "maximum": 50}}],
    })  # fmt: skip
    assert _pay_hosted(browser, seats.url, quantity="6") == 303
    assert client.v1.checkout.sessions.line_items.list(seats.id).data[0].quantity == 6
    assert client.v1.checkout.sessions.list({"customer": org.id}).data[0].id == seats.id
    setup = client.v1.checkout.sessions.create({
        "mode": "setup", "customer": org.id, "currency": "usd",
        "success_url": "http://127.0.0.1:5000/ok",
    })  # fmt: skip
    assert _pay_hosted(browser, setup.url) == 303
    intent = client.v1.checkout.sessions.retrieve(setup.id).setup_intent
    assert client.v1.setup_intents.retrieve(str(intent)).status == "succeeded"
    _failing_renewal(client, browser, price)
    _renewal_needing_the_cardholder(client, price)
    _reads_and_lists(client, org.id, price)


def _pay_hosted(browser: Any, url: str | None, **form: str) -> int:
    page = re.sub(r"^https?://[^/]+", "", str(url))
    status: int = browser.post(page, data={**GOOD_CARD, **form}).status_code
    return status


def _failing_renewal(client: stripe.StripeClient, browser: Any, price: stripe.Price) -> None:
    """A trial on a card that fails: past due, retried, then paid on the hosted invoice page."""
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": int(time.time())})
    start = clock.frozen_time
    customer = make_customer(client, tag(), card="pm_card_chargeCustomerFail", test_clock=clock.id)
    sub = client.v1.subscriptions.create({
        "customer": customer.id, "items": [{"price": price.id}], "trial_period_days": 7,
    })  # fmt: skip
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": start + 8 * 86400})
    late = client.v1.subscriptions.retrieve(sub.id, {"expand": EXPAND_ALL})
    assert late.status == "past_due"
    invoice = late.latest_invoice
    assert isinstance(invoice, stripe.Invoice) and invoice.status == "open"
    assert invoice.next_payment_attempt
    assert client.v1.invoices.line_items.list(invoice.id).data[0].amount == 30000
    assert browser.post(f"/invoice/{invoice.id}", data=GOOD_CARD).status_code == 200
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"


def _renewal_needing_the_cardholder(client: stripe.StripeClient, price: stripe.Price) -> None:
    """A renewal on a card that always asks for 3-D Secure: the invoice waits, its payment's
    PaymentIntent requires action (read through invoice_payments, as this API version has it)."""
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": int(time.time())})
    start = clock.frozen_time
    customer = make_customer(client, tag(), card="pm_card_authenticationRequired",
                             test_clock=clock.id)  # fmt: skip
    sub = client.v1.subscriptions.create({
        "customer": customer.id, "items": [{"price": price.id}], "trial_period_days": 7,
    })  # fmt: skip
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": start + 8 * 86400})
    invoice_id = str(client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    payments = client.v1.invoice_payments.list({"invoice": invoice_id}).data
    assert payments and client.v1.invoice_payments.retrieve(payments[0].id).id == payments[0].id
    intent = payments[0].payment.payment_intent
    assert client.v1.payment_intents.retrieve(str(intent)).status == "requires_action"


def _reads_and_lists(client: stripe.StripeClient, customer_id: str, price: stripe.Price) -> None:
    methods = client.v1.customers.payment_methods.list(customer_id)
    assert methods.data and methods.data[0].customer == customer_id
    assert client.v1.products.list({"limit": 3}).data
    assert client.v1.prices.retrieve(price.id).id == price.id
    configs = client.v1.billing_portal.configurations.list({"limit": 1}).data
    assert client.v1.billing_portal.configurations.retrieve(configs[0].id).id == configs[0].id
    assert client.v1.test_helpers.test_clocks.list({"limit": 2}).data
    gone = client.v1.customers.create({"email": f"gone-{tag()}@example.com"})
    assert client.v1.customers.delete(gone.id).deleted is True
