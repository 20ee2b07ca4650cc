"""A webhook state machine (hypothesis): Stripe-side changes interleaved with deliveries that are
duplicated, reordered, stale, forged, tampered or of unknown types. Invariants:

- forged, tampered and stale deliveries are refused and write nothing;
- once every event has been delivered at least once (mid-run when the machine chooses to settle,
  and at the end of every run), each member's subscription row and access equal what the
  emulator (Stripe's truth) implies.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import stripe
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test
from sqlalchemy import func, select

from paywall import access, clock
from paywall.accounts.models import User
from paywall.billing.models import StripeEvent, Subscription
from paywall.devstripe.webhooks import DEFAULT_SECRET
from paywall.extensions import db
from tests.helpers import make_user

MIN_DELIVERIES = 2000


def test_webhook_deliveries_converge_to_stripes_truth(shop) -> None:  # type: ignore[no-untyped-def]
    shop.emulator.point_at(None)  # the machine delivers, in whatever order it likes
    endpoint = shop.app.test_client()
    client = stripe.StripeClient(shop.emulator.api_key, base_addresses={"api": shop.emulator.url})
    price = next(shop.emulator.store.find("price", lookup_key="pro_annual"))["id"]
    counter = {"members": 0, "deliveries": 0}
    delivered: set[str] = set()  # events that got a 200 at least once
    log: list[dict[str, Any]] = []  # every event so far, oldest first

    def post(body: str, signature: str) -> int:
        counter["deliveries"] += 1
        answer = endpoint.post("/webhooks/stripe", data=body, content_type="application/json",
                               headers={"Stripe-Signature": signature})  # fmt: skip
        return int(answer.status_code)

    def footprint() -> tuple[Any, ...]:
        def read() -> tuple[Any, ...]:
            events = db.session.scalar(select(func.count()).select_from(StripeEvent))
            rows = db.session.execute(select(Subscription.stripe_subscription_id, Subscription.status,
                                             Subscription.current_period_end)).all()  # fmt: skip
            users = db.session.execute(
                select(User.id, User.access_premium, User.access_until)
            ).all()
            return events, sorted(map(tuple, rows)), sorted(map(tuple, users))

        return shop.site.run(read)  # type: ignore[no-any-return]

    class Webhooks(RuleBasedStateMachine):
        @initialize()
        def members(self) -> None:
            """Two new members, each with a subscription made in Stripe directly."""
            self.subs: list[str] = []
            for card in ("pm_card_visa", "pm_card_chargeCustomerFail"):
                counter["members"] += 1
                email = f"m{counter['members']}@example.com"
                user = shop.site.run(lambda e=email: make_user(email=e).id)
                customer = client.v1.customers.create(
                    {"email": email, "metadata": {"user_id": str(user)}}
                )
                method = client.v1.payment_methods.attach(card, {"customer": customer.id})
                client.v1.customers.update(
                    customer.id, {"invoice_settings": {"default_payment_method": method.id}}
                )
                sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price}],
                                                      "trial_period_days": 7, "metadata": {"user_id": str(user)}})  # fmt: skip
                self.subs.append(sub.id)

        def events(self) -> list[dict[str, Any]]:
            log.extend(shop.emulator.events(start=len(log)))  # only what is new since last time
            return log

        # Picks are drawn from a fixed range and folded onto the log (whose length varies), so
        # hypothesis sees the same choices every time.
        @rule(pick=st.integers(0, 10**6))
        def deliver_any(self, pick: int) -> None:
            """Any event ever sent: a duplicate, a late one, or one out of order."""
            events = self.events()
            event = events[pick % len(events)]
            body = json.dumps(event)
            assert (
                post(body, stripe.WebhookSignature.generate_signature_header(body, DEFAULT_SECRET))
                == 200
            )
            delivered.add(event["id"])

        @rule(pick=st.integers(0, 10**6), kind=st.sampled_from(["forged", "tampered", "stale"]))
        def deliver_bad(self, pick: int, kind: str) -> None:
            events = self.events()
            body = json.dumps(events[pick % len(events)])
            before = footprint()
            if kind == "forged":
                status = post(
                    body, stripe.WebhookSignature.generate_signature_header(body, "whsec_forger")
                )
            elif kind == "tampered":
                signature = stripe.WebhookSignature.generate_signature_header(body, DEFAULT_SECRET)
                status = post(body.replace('"livemode": false', '"livemode": true'), signature)
            else:
                stale = int(time.time()) - 400
                status = post(
                    body,
                    stripe.WebhookSignature.generate_signature_header(body, DEFAULT_SECRET, stale),
                )
            assert status == 400
            assert footprint() == before, f"a {kind} delivery wrote something"

        @rule(
            name=st.sampled_from(["invoice.upcoming", "radar.early_fraud_warning.created", "x.new"])
        )
        def deliver_unknown(self, name: str) -> None:
            counter["members"] += 1
            body = json.dumps({"id": f"evt_unknown_{counter['members']}_{time.time_ns()}", "object": "event",
                               "type": name, "created": int(time.time()), "data": {"object": {"id": "x"}},
                               "livemode": False, "api_version": "2026-10-28.endive"})  # fmt: skip
            assert (
                post(body, stripe.WebhookSignature.generate_signature_header(body, DEFAULT_SECRET))
                == 200
            )

        @rule(days=st.sampled_from([1, 3, 4.5, 8, 30]))
        def time_passes(self, days: float) -> None:
            shop.offset += timedelta(days=days)
            shop.emulator.advance(days=days)

        @rule(which=st.integers(0, 1), cancel=st.booleans())
        def member_changes_mind(self, which: int, cancel: bool) -> None:
            sub = client.v1.subscriptions.retrieve(self.subs[which])
            if sub.status in ("trialing", "active", "past_due"):
                client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": cancel})

        @rule()
        def deliveries_settle(self) -> None:
            self.settled_state_matches_stripe()

        def teardown(self) -> None:
            self.settled_state_matches_stripe()

        def settled_state_matches_stripe(self) -> None:
            # Deliver, in order, every event not delivered yet (as Stripe eventually does) ...
            for event in self.events():
                if event["id"] in delivered:
                    continue
                body = json.dumps(event)
                assert (
                    post(
                        body,
                        stripe.WebhookSignature.generate_signature_header(body, DEFAULT_SECRET),
                    )
                    == 200
                )
                delivered.add(event["id"])
            # ... then our mirror and every member's access must match the emulator's truth.
            for sub_id in self.subs:
                truth = client.v1.subscriptions.retrieve(sub_id)
                item = truth["items"].data[0]

                def check(truth: Any = truth, item: Any = item) -> None:
                    row = db.session.scalar(select(Subscription).where(
                        Subscription.stripe_subscription_id == truth.id))  # fmt: skip
                    assert row is not None and row.status == truth.status
                    assert int(row.current_period_end.timestamp()) == item.current_period_end
                    user = db.session.get(User, row.user_id)
                    grace = timedelta(days=3)
                    grant = access.subscription_grant(truth.status, row.current_period_end,
                                                      row.past_due_since, grace)  # fmt: skip
                    expected = (
                        grant is not None and grant.until is not None and grant.until > clock.now()
                    )
                    assert user.access.premium == expected, (truth.status, user.access)

                shop.site.run(check)

    # How many deliveries a run makes depends on the steps hypothesis draws; run again (rarely
    # needed) until the machine has made at least MIN_DELIVERIES.
    for _ in range(3):
        run_state_machine_as_test(
            Webhooks,
            settings=settings(
                max_examples=50,
                stateful_step_count=40,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
        if counter["deliveries"] >= MIN_DELIVERIES:
            break
    assert counter["deliveries"] >= MIN_DELIVERIES, counter
