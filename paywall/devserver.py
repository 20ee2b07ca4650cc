"""`make run`: migrate, seed, then run the worker and the site together until Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def _paywall(*args: str) -> list[str]:
    return [str(BIN / "paywall"), *args]


def _wait_for_port(port: int, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"make run: nothing answers on 127.0.0.1:{port}")


def main() -> int:
    os.environ.setdefault("PAYWALL_CONFIG", "development")
    port = os.environ.get("PORT", "5000")
    os.environ.setdefault("PAYWALL_BASE_URL", f"http://127.0.0.1:{port}")
    subprocess.run(_paywall("db", "upgrade"), check=True)  # noqa: S603
    seeded = subprocess.run(_paywall("seed-demo"), check=True, capture_output=True, text=True)  # noqa: S603
    children = [subprocess.Popen(_paywall("worker"))]  # noqa: S603
    base = os.environ["PAYWALL_BASE_URL"]
    stripe_line = "Stripe:      real Stripe (PAYWALL_STRIPE_SECRET_KEY is set)\n"
    if not os.environ.get("PAYWALL_STRIPE_SECRET_KEY"):
        # No key: the offline emulator stands in, keeping its state across restarts.
        Path("instance").mkdir(exist_ok=True)
        children.append(
            subprocess.Popen(  # noqa: S603
                _paywall("stripe-emulator", "--port", "12111", "--state", "instance/devstripe.json")
            )
        )
        _wait_for_port(12111)
        # Our products and prices, found by lookup_key: safe on every start.
        subprocess.run(_paywall("stripe-sync"), check=True, capture_output=True)  # noqa: S603
        stripe_line = (
            "Stripe:      offline emulator on http://127.0.0.1:12111 "
            "(test card 4242 4242 4242 4242, any future expiry, any CVC)\n"
        )
    print(
        f"\n{seeded.stdout}\n"
        f"Site:        {base}/\n"
        f"Sign in:     {base}/signin\n"
        f"Mail outbox: {base}/dev/mail   (no MAIL_URL set: mail is kept, not sent)\n"
        f"Admin:       {base}/admin/\n"
        f"{stripe_line}"
        "Ctrl-C stops everything.\n",
        flush=True,
    )
    server = subprocess.Popen(  # noqa: S603
        _paywall("run", "--host", "127.0.0.1", "--port", port, "--no-reload")
    )
    children.append(server)
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


if __name__ == "__main__":
    sys.exit(main())
