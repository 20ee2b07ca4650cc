"""Requests per second for reader pages under gunicorn (2 workers), as ratios to a bare route.

    .venv/bin/python bench/pages.py [--seconds 10] [--clients 8]

Builds a fresh SQLite database with demo content, a member and a free reader, starts gunicorn
on 127.0.0.1, and measures in one run: a bare route returning a constant, a public article as
a visitor, a premium memo as an entitled member, and the same memo as a visitor (paywalled).
Machines here are noisy, so the figures that matter are the ratios to the bare route.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hammer(port: int, path: str, cookie: str, seconds: float) -> int:
    """One client: GET path as fast as it can for `seconds`; returns how many succeeded."""
    done, deadline = 0, time.perf_counter() + seconds
    headers = {"Cookie": cookie} if cookie else {}
    while time.perf_counter() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        if response.status == 200:
            done += 1
    return done


def measure(port: int, path: str, cookie: str, seconds: float, clients: int) -> float:
    with ProcessPoolExecutor(clients) as pool:
        counts = pool.map(hammer, *zip(*[(port, path, cookie, seconds)] * clients, strict=True))
        return sum(counts) / seconds


def sign_in(port: int, email: str, password: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/signin")
    page = conn.getresponse()
    html, jar = page.read().decode(), page.getheader("Set-Cookie", "").split(";")[0]
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    body = f"email={email}&password={password}&csrf_token={token}"
    conn.request("POST", "/signin", body, {"Content-Type": "application/x-www-form-urlencoded",
                                           "Cookie": jar})  # fmt: skip
    answer = conn.getresponse()
    answer.read()
    assert answer.status == 303, answer.status
    return answer.getheader("Set-Cookie", "").split(";")[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="paywall-bench-")
    env = {**os.environ, "PAYWALL_CONFIG": "development",
           "PAYWALL_DATABASE_URL": f"sqlite:///{workdir}/bench.db",
           "PAYWALL_SECRET_KEY": "bench-secret-key-0123456789abcdefghijklmnop"}  # fmt: skip
    subprocess.run([BIN / "paywall", "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([BIN / "paywall", "seed-demo"], env=env, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [BIN / "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "--chdir", str(ROOT),
         "--log-level", "warning", "bench.pages_app:app"], env=env,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        member = sign_in(port, "member@example.com", "demo-member-2026")
        article, memo = (
            "/articles/" + first_slug(port, "article"),
            "/memos/" + first_slug(port, "memo"),
        )
        cases = [("bare route (constant)", "/bench/constant", ""),
                 ("public article, visitor", article, ""),
                 ("premium memo, member", memo, member),
                 ("premium memo, visitor (paywalled)", memo, "")]  # fmt: skip
        results = [(name, measure(port, path, cookie, args.seconds, args.clients))
                   for name, path, cookie in cases]  # fmt: skip
    finally:
        server.terminate()
        server.wait(10)
    base = results[0][1]
    print(f"gunicorn -w 2, {args.clients} clients, {args.seconds:.0f} s each, SQLite")
    print(f"{'case':<36}{'req/s':>10}{'ratio':>8}")
    for name, rate in results:
        print(f"{name:<36}{rate:>10.0f}{rate / base:>8.2f}")


def first_slug(port: int, kind: str) -> str:
    import json

    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", f"/api/v1/items?kind={kind}&limit=1")
    return str(json.loads(conn.getresponse().read())["items"][0]["slug"])


if __name__ == "__main__":
    main()
