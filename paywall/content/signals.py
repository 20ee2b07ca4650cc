"""What content announces to the domains that react to it (newsletters mail a published
industry issue), so content does not import them."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# Sent with the item (as the sender) once it is saved or published or unpublished, inside the
# transaction that changes it, so whatever a listener writes commits or rolls back with it.
item_changed = _signals.signal("item-changed")
