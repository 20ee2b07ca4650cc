"""Running the emulator: `paywall stripe-emulator` (a foreground server) and `RunningEmulator`
(in a thread, for tests and `make run`). It always binds 127.0.0.1."""

from __future__ import annotations

import threading
import time
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from paywall.devstripe import billing
from paywall.devstripe.app import create_app
from paywall.devstripe.store import Store, public
from paywall.devstripe.webhooks import DEFAULT_SECRET, Deliverer, Delivery

HOST = "127.0.0.1"  # never anything else: this is a development tool
TICK_SECONDS = 30.0


class RunningEmulator:
    """The emulator serving from a thread, with handles to move time and watch deliveries."""

    api_key = "sk_test_emulator"

    def __init__(
        self,
        port: int = 0,
        *,
        webhook_url: str | None = None,
        webhook_secret: str = DEFAULT_SECRET,
        state_path: str | None = None,
        retry_backoff: float = 1.0,
        max_backoff: float = 300.0,
    ) -> None:
        self.store = Store(state_path)
        self.deliverer = Deliverer(
            self.store, webhook_url, webhook_secret, retry_backoff, max_backoff
        )
        self.server: BaseWSGIServer = make_server(
            HOST, port, create_app(self.store, self.deliverer), threaded=True
        )
        self.port = int(self.server.server_port)
        self.url = f"http://{HOST}:{self.port}"
        self.store.base_url = self.url
        self._threads = [
            threading.Thread(
                target=self.server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="devstripe-http",
                daemon=True,
            ),
            threading.Thread(target=self._tick, name="devstripe-clock", daemon=True),
        ]
        self._stopped = threading.Event()

    def start(self) -> RunningEmulator:
        self.deliverer.start()
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self.server.shutdown()
        self.deliverer.stop()
        with self.store.lock:
            self.store.save()

    def __enter__(self) -> RunningEmulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _tick(self) -> None:
        """Real time passes too: what falls due on the emulator's clock happens on its own."""
        while not self._stopped.wait(TICK_SECONDS):
            with self.store.lock:
                billing.advance(self.store, None, self.store.now())

    # --- for tests -----------------------------------------------------------------------

    def point_at(self, url: str | None, secret: str = DEFAULT_SECRET) -> None:
        self.deliverer.url, self.deliverer.secret = url, secret

    def advance(self, *, days: float = 0, to: int | None = None) -> int:
        """Move the emulator's own clock, as `POST /_emulator/clock/advance` does."""
        with self.store.lock:
            return billing.advance(
                self.store, None, to or int(self.store.now() + days * billing.DAY)
            )

    def now(self) -> int:
        with self.store.lock:
            return self.store.now()

    def settle(self, timeout: float = 10.0) -> bool:
        return self.deliverer.settle(timeout)

    def events(self, event_type: str | None = None, start: int = 0) -> list[dict[str, Any]]:
        """Events oldest first, as delivered (optionally of one type, or from the n-th on)."""
        with self.store.lock:
            found = [public(self.store.objects[i]) for i in self.store.event_log[start:]]
        return [e for e in found if event_type is None or e["type"] == event_type]

    def deliveries(self) -> list[Delivery]:
        return list(self.deliverer.deliveries)


def serve(
    port: int, *, webhook_url: str | None, webhook_secret: str, state_path: str | None
) -> None:
    emulator = RunningEmulator(
        port, webhook_url=webhook_url, webhook_secret=webhook_secret, state_path=state_path
    )
    emulator.start()
    print(f"Stripe emulator on {emulator.url} (test keys: any sk_test_…)", flush=True)
    print(f"Webhooks to {webhook_url or 'nowhere'}, signed with {webhook_secret}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
