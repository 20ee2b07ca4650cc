"""The emulator's state: every object by id, the clocks, events, idempotency keys.

Objects are plain dicts in Stripe's shape. Keys starting with `_` are the emulator's own
bookkeeping (a card's test behaviour, an invoice's retry schedule) and never leave it.
One lock guards everything: the API, the hosted pages, time moving and the webhook thread.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from paywall.devstripe import defaults
from paywall.devstripe.errors import NotFound

API_VERSION = "2026-10-28.endive"

PREFIXES = {
    "customer": "cus",
    "product": "prod",
    "price": "price",
    "checkout.session": "cs_test",
    "billing_portal.configuration": "bpc",
    "billing_portal.session": "bps",
    "subscription": "sub",
    "subscription_item": "si",
    "invoice": "in",
    "line_item": "il",
    "payment_method": "pm",
    "setup_intent": "seti",
    "payment_intent": "pi",
    "invoice_payment": "inpay",
    "event": "evt",
    "test_helpers.test_clock": "clock",
}
KIND_NAMES = {  # as Stripe names them in "No such …" errors
    "customer": "customer",
    "product": "product",
    "price": "price",
    "checkout.session": "checkout.session",
    "billing_portal.configuration": "configuration",
    "billing_portal.session": "session",
    "subscription": "subscription",
    "subscription_item": "subscription_item",
    "invoice": "invoice",
    "payment_method": "PaymentMethod",
    "setup_intent": "setupintent",
    "payment_intent": "payment_intent",
    "invoice_payment": "invoice_payment",
    "event": "event",
    "test_helpers.test_clock": "test_clock",
}


def public(obj: Any) -> Any:
    """A deep copy without the emulator's `_` keys."""
    if isinstance(obj, dict):
        return {k: public(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [public(v) for v in obj]
    return copy.deepcopy(obj)


class Store:
    def __init__(self, state_path: str | None = None) -> None:
        self.lock = threading.RLock()
        self.objects: dict[str, dict[str, Any]] = {}
        self.seq = 0
        self.offset = 0.0  # the emulator's own clock: real time plus this many seconds
        self.idempotency: dict[str, tuple[str, int, str]] = {}
        self.event_log: list[str] = []  # event ids, oldest first
        self.state_path = state_path
        self.base_url = "http://127.0.0.1:12111"  # set by the server: hosted page links
        self.on_event: Callable[[dict[str, Any]], None] | None = None
        if state_path and os.path.exists(state_path):
            self.load(state_path)

    # --- time ----------------------------------------------------------------------------

    def now(self, clock_id: str | None = None) -> int:
        if clock_id:
            return int(self.get("test_helpers.test_clock", clock_id)["frozen_time"])
        return int(time.time() + self.offset)

    def pin(self, clock_id: str | None, moment: int) -> None:
        """Set a clock to a moment (time only moves forward)."""
        if clock_id:
            clock = self.get("test_helpers.test_clock", clock_id)
            clock["frozen_time"] = max(int(clock["frozen_time"]), moment)
        elif moment > self.now():
            self.offset = moment - time.time()

    def clock_of(self, obj: dict[str, Any]) -> str | None:
        """The test clock an object lives on (through its customer), or None."""
        if obj.get("object") == "test_helpers.test_clock":
            return str(obj["id"])
        if obj.get("object") == "customer":
            return obj.get("test_clock")
        customer = obj.get("customer")
        if isinstance(customer, str) and customer in self.objects:
            return self.objects[customer].get("test_clock")
        return None

    def now_for(self, obj: dict[str, Any]) -> int:
        return self.now(self.clock_of(obj))

    # --- objects -------------------------------------------------------------------------

    def new_id(self, kind: str) -> str:
        return f"{PREFIXES[kind]}_{secrets.token_hex(12)}"

    def add(
        self,
        kind: str,
        fields: dict[str, Any],
        *,
        created: int | None = None,
        object_id: str | None = None,
    ) -> dict[str, Any]:
        self.seq += 1
        obj = {"id": object_id or self.new_id(kind), "object": kind, **defaults.for_kind(kind)}
        obj.update(fields)
        if "created" not in obj:
            obj["created"] = created if created is not None else self.now_for(obj)
        if kind not in defaults.WITHOUT_LIVEMODE:
            obj.setdefault("livemode", False)
        obj["_seq"] = self.seq
        self.objects[obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: Any, param: str = "id") -> dict[str, Any]:
        obj = self.objects.get(object_id) if isinstance(object_id, str) else None
        if obj is None or obj["object"] != kind or obj.get("_deleted"):
            raise NotFound(KIND_NAMES[kind], str(object_id), param)
        return obj

    def find(self, kind: str, **where: Any) -> Iterator[dict[str, Any]]:
        """Objects of a kind, newest first, whose fields equal `where`."""
        found = [
            o
            for o in self.objects.values()
            if o["object"] == kind
            and not o.get("_deleted")
            and all(o.get(k) == v for k, v in where.items())
        ]
        return iter(sorted(found, key=lambda o: o["_seq"], reverse=True))

    def update(self, obj: dict[str, Any], **changes: Any) -> dict[str, Any]:
        """Apply changes; return the previous values of what changed (for previous_attributes)."""
        previous = {}
        for key, value in changes.items():
            if obj.get(key) != value:
                previous[key] = public(obj.get(key))
                obj[key] = value
        return previous

    # --- events --------------------------------------------------------------------------

    def emit(
        self, event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Record an event with a snapshot of the object as it is now."""
        if event_type.endswith(".updated") and previous == {}:
            return None  # nothing changed: Stripe sends no update
        data: dict[str, Any] = {"object": public(obj)}
        if previous:
            data["previous_attributes"] = previous
        event = self.add(
            "event",
            {
                "api_version": API_VERSION,
                "created": self.now_for(obj),
                "data": data,
                "pending_webhooks": 0,
                "request": {"id": None, "idempotency_key": None},
                "type": event_type,
                "_delivered": False,
            },
        )
        self.event_log.append(event["id"])
        if self.on_event:
            self.on_event(event)
        return event

    # --- persistence ---------------------------------------------------------------------

    def save(self) -> None:
        if not self.state_path:
            return
        state = {"seq": self.seq, "offset": self.offset, "objects": self.objects}
        temporary = f"{self.state_path}.tmp"
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(state, out)
        os.replace(temporary, self.state_path)

    def load(self, path: str) -> None:
        with open(path, encoding="utf-8") as source:
            state = json.load(source)
        self.seq, self.offset, self.objects = state["seq"], state["offset"], state["objects"]
        events = [o for o in self.objects.values() if o["object"] == "event"]
        self.event_log = [e["id"] for e in sorted(events, key=lambda e: e["_seq"])]
