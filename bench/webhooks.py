"""Signed Stripe deliveries per second to POST /webhooks/stripe, new and duplicate events,
on SQLite and (with --postgres URL) PostgreSQL, in one run.

    .venv/bin/python bench/webhooks.py [--seconds 8] [--clients 8] [--postgres postgresql+psycopg://…]

Each case starts gunicorn (2 workers) on a fresh database. "New" sends events never seen
before (each is verified, stored and applied: a type with no handler, so no Stripe call is
made and the cost measured is our intake); "duplicate" re-sends one stored event (verified,
found by id, answered at once). The figures that carry from machine to machine are the ratios.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pages import BIN, ROOT, free_port

SECRET = "whsec_bench_0123456789abcdef"


def signed(event_id: str) -> tuple[str, str]:
    body = json.dumps({
        "id": event_id, "object": "event", "type": "customer.created", "created": int(time.time()),
        "api_version": "2026-10-28.endive", "livemode": False, "pending_webhooks": 1,
        "data": {"object": {"id": "cus_bench", "object": "customer", "email": "b@example.com"}},
        "request": {"id": None, "idempotency_key": None},
    })  # fmt: skip
    moment = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{moment}.{body}".encode(), hashlib.sha256).hexdigest()
    return body, f"t={moment},v1={digest}"


def hammer(port: int, duplicate: bool, seconds: float) -> int:
    done, deadline = 0, time.perf_counter() + seconds
    fixed = signed("evt_bench_duplicate")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while time.perf_counter() < deadline:
        body, signature = fixed if duplicate else signed(f"evt_bench_{secrets.token_hex(8)}")
        conn.request(
            "POST",
            "/webhooks/stripe",
            body,
            {"Content-Type": "application/json", "Stripe-Signature": signature},
        )
        response = conn.getresponse()
        response.read()
        done += response.status == 200
    conn.close()
    return done


def run_case(database_url: str, duplicate: bool, seconds: float, clients: int) -> float:
    env = {**os.environ, "PAYWALL_CONFIG": "development", "PAYWALL_DATABASE_URL": database_url,
           "PAYWALL_SECRET_KEY": "bench-secret-key-0123456789abcdefghijklmnop",
           "PAYWALL_STRIPE_WEBHOOK_SECRET": SECRET}  # fmt: skip
    subprocess.run([BIN / "paywall", "db", "upgrade"], env=env, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [BIN / "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "--chdir", str(ROOT),
         "--log-level", "warning", "paywall:create_app()"], env=env,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                hammer(port, True, 0.01)
                break
            except OSError:
                time.sleep(0.1)
        with ProcessPoolExecutor(clients) as pool:
            counts = pool.map(hammer, [port] * clients, [duplicate] * clients, [seconds] * clients)
            return sum(counts) / seconds
    finally:
        server.terminate()
        server.wait(10)


def reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--postgres", help="a PostgreSQL URL to measure too (its data is dropped)")
    args = parser.parse_args()
    databases = [("SQLite", f"sqlite:///{tempfile.mkdtemp(prefix='paywall-bench-')}/bench.db")]
    if args.postgres:
        databases.append(("PostgreSQL", args.postgres))
    print(f"gunicorn -w 2, {args.clients} clients, {args.seconds:.0f} s per case")
    print(f"{'database':<12}{'events':<12}{'deliveries/s':>14}{'ratio':>8}")
    for name, url in databases:
        if name == "PostgreSQL":
            reset_postgres(url)
        new = run_case(url, False, args.seconds, args.clients)
        duplicate = run_case(url, True, args.seconds, args.clients)
        print(f"{name:<12}{'new':<12}{new:>14.0f}{1.0:>8.2f}")
        print(f"{name:<12}{'duplicate':<12}{duplicate:>14.0f}{duplicate / new:>8.2f}")


if __name__ == "__main__":
    main()
