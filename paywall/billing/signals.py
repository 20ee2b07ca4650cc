"""What billing announces to the domains that follow Stripe (teams make their seats follow a
team subscription), so billing does not import them."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# Sent with the subscription's mirror row (the sender) and Stripe's `metadata` of it, once the
# row holds what Stripe has now: inside the sync's transaction and with the row still locked, so
# whatever a listener writes commits or rolls back with it, and in the lock order the sync keeps
# (the subscription row first).
subscription_synced = _signals.signal("subscription-synced")
