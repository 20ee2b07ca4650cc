"""Webhook delivery: signed as Stripe signs, sent from a background thread, retried with
backoff until the endpoint answers 2xx (https://docs.stripe.com/webhooks#verify-manually)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from paywall.devstripe.store import Store, public

# Public on purpose: it signs deliveries from the local emulator only.
DEFAULT_SECRET = "whsec_devstripe_local_only_0123456789abcdef"  # noqa: S105
MAX_ATTEMPTS = 25


def signature_header(body: str, secret: str, timestamp: int | None = None) -> str:
    """`t=<unix time>,v1=<hex HMAC-SHA256 of "t.body" with the secret>`."""
    moment = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{moment}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={moment},v1={digest}"


@dataclass
class Delivery:
    event_id: str
    event_type: str
    attempts: int = 0
    due: float = 0.0
    statuses: list[int] = field(default_factory=list)
    delivered: bool = False


class Deliverer:
    """Sends every event to one endpoint, in order, at least once."""

    def __init__(
        self,
        store: Store,
        url: str | None,
        secret: str = DEFAULT_SECRET,
        backoff: float = 1.0,
        max_backoff: float = 300.0,
    ) -> None:
        if url and not url.startswith(("http://", "https://")):
            raise ValueError("the webhook URL must be http:// or https://")
        self.store, self.url, self.secret = store, url, secret
        self.backoff, self.max_backoff = backoff, max_backoff
        self.deliveries: list[Delivery] = []
        self._wake = threading.Condition()
        self._stopping = False
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="devstripe-webhooks", daemon=True)
        store.on_event = self.enqueue

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        self._thread.join(timeout=10)

    def enqueue(self, event: dict[str, Any]) -> None:
        if not self.url:
            return
        event["pending_webhooks"] = 1
        with self._wake:
            self.deliveries.append(Delivery(event["id"], event["type"], due=time.monotonic()))
            self._wake.notify_all()

    def pending(self) -> list[Delivery]:
        with self._wake:
            return [d for d in self.deliveries if not d.delivered and d.attempts < MAX_ATTEMPTS]

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait until every event has been delivered (or given up); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while (
                any(not d.delivered and d.attempts < MAX_ATTEMPTS for d in self.deliveries)
                or self._busy
            ):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(min(left, 0.05))
        return True

    def _next(self) -> Delivery | None:
        now = time.monotonic()
        waiting = [d for d in self.deliveries if not d.delivered and d.attempts < MAX_ATTEMPTS]
        due = [d for d in waiting if d.due <= now]
        if due:
            return due[0]
        if waiting:
            self._wake.wait(min(d.due for d in waiting) - now)
        else:
            self._wake.wait(0.5)
        return None

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
                delivery = self._next()
                if delivery is None:
                    continue
                self._busy = True
            status = 0
            try:
                status = self._send(delivery)
            finally:
                if 200 <= status < 300:
                    # Lock order is always store.lock before _wake (events are emitted under
                    # the store lock), so the event is marked before _wake is taken again.
                    with self.store.lock:
                        event = self.store.objects.get(delivery.event_id)
                        if event:
                            event["_delivered"], event["pending_webhooks"] = True, 0
                with self._wake:
                    self._record(delivery, status)
                    self._busy = False
                    self._wake.notify_all()

    def _send(self, delivery: Delivery) -> int:
        if not self.url:
            return 0  # nowhere to send (the endpoint was unset): retried like any failure
        with self.store.lock:
            event = self.store.objects.get(delivery.event_id)
            body = json.dumps(public(event), separators=(",", ":")) if event else "{}"
        request = urllib.request.Request(  # noqa: S310 (the URL is checked to be http(s))
            str(self.url),
            data=body.encode(),
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": signature_header(body, self.secret),
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except OSError:
            return 0  # could not connect: retried like any failure

    def _record(self, delivery: Delivery, status: int) -> None:
        delivery.attempts += 1
        delivery.statuses.append(status)
        if 200 <= status < 300:
            delivery.delivered = True
            return
        delay = min(self.backoff * 2 ** (delivery.attempts - 1), self.max_backoff)
        delivery.due = time.monotonic() + delay
