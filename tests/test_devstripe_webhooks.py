"""Webhooks from the emulator: signed as Stripe signs (verified here by the stripe library),
delivered from a thread at least once, retried until the endpoint answers 2xx, each carrying
the object as it was at that moment."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import stripe
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from paywall.devstripe.webhooks import DEFAULT_SECRET
from tests.stripe_contract import make_customer, make_price, tag


class Endpoint:
    """A webhook endpoint on 127.0.0.1 that records deliveries and answers as told."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []  # (Stripe-Signature, body)
        self.answers: list[int] = []  # statuses to give first; then 200
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/webhooks/stripe"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    @Request.application  # type: ignore[arg-type]
    def _app(self, request: Request) -> Response:
        self.received.append(
            (request.headers.get("Stripe-Signature", ""), request.get_data(as_text=True))
        )
        return Response("ok", self.answers.pop(0) if self.answers else 200)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]

    def stop(self) -> None:
        self._server.shutdown()


@pytest.fixture
def endpoint(emulator) -> Iterator[Endpoint]:  # type: ignore[no-untyped-def]
    receiver = Endpoint()
    emulator.point_at(receiver.url)
    yield receiver
    receiver.stop()


def test_deliveries_verify_with_the_stripe_library(emulator, stripe_client, endpoint) -> None:  # type: ignore[no-untyped-def]
    customer = stripe_client.v1.customers.create({"email": "w@example.com"})
    assert emulator.settle()
    header, body = endpoint.received[-1]
    event = stripe.Webhook.construct_event(body, header, DEFAULT_SECRET)
    assert event.type == "customer.created" and event.data.object["id"] == customer.id
    assert event.api_version == "2026-10-28.endive"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, header, "whsec_someone_else")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            body.replace("w@example", "x@example"), header, DEFAULT_SECRET
        )


def test_an_endpoint_answering_500_gets_the_event_again(emulator, stripe_client, endpoint) -> None:  # type: ignore[no-untyped-def]
    endpoint.answers = [500, 500]
    customer = stripe_client.v1.customers.create({"email": "retry@example.com"})
    assert emulator.settle()
    ids = [e["id"] for e in endpoint.events() if e["data"]["object"]["id"] == customer.id]
    assert len(ids) == 3 and len(set(ids)) == 1  # the same event, until it got a 2xx
    [delivery] = [d for d in emulator.deliveries() if d.event_id == ids[0]]
    assert delivery.statuses == [500, 500, 200] and delivery.delivered
    event = stripe_client.v1.events.retrieve(ids[0])
    assert event.pending_webhooks == 0


def test_undelivered_events_are_listed_as_failed(emulator, stripe_client) -> None:  # type: ignore[no-untyped-def]
    emulator.point_at("http://127.0.0.1:9/nothing-listens-here")
    stripe_client.v1.customers.create({"email": "lost@example.com"})
    failed = stripe_client.v1.events.list({"delivery_success": False})
    assert [e.type for e in failed.data] == ["customer.created"]


def test_each_event_carries_the_object_as_it_was(emulator, stripe_client, endpoint) -> None:  # type: ignore[no-untyped-def]
    price = make_price(stripe_client, tag())
    customer = make_customer(stripe_client, tag())
    sub = stripe_client.v1.subscriptions.create({"customer": customer.id,
                                                 "items": [{"price": price.id}], "trial_period_days": 7})  # fmt: skip
    stripe_client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": True})
    stripe_client.v1.subscriptions.update(sub.id, {"metadata": {"note": "later"}})
    assert emulator.settle()
    updates = [e for e in endpoint.events() if e["type"] == "customer.subscription.updated"]
    first, second = updates
    assert first["data"]["object"]["cancel_at_period_end"] is True
    assert first["data"]["previous_attributes"]["cancel_at_period_end"] is False
    assert first["data"]["object"]["metadata"] == {}  # not yet changed at that moment
    assert second["data"]["previous_attributes"] == {"metadata": {}}
    created = [e for e in endpoint.events() if e["type"] == "customer.subscription.created"]
    assert created[0]["data"]["object"]["status"] == "trialing"
    wanted = {"customer.created", "payment_method.attached", "customer.updated",
              "customer.subscription.created", "invoice.created", "invoice.finalized", "invoice.paid"}  # fmt: skip
    assert wanted <= {e["type"] for e in endpoint.events()}
