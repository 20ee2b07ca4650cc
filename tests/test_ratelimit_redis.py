"""Failed sign-ins are counted in Redis, so every app instance sees the same count.

RATELIMIT_SIGNIN_PER_ACCOUNT is "5 per 15 minutes": five wrong passwords for one address,
spread over two instances, and the sixth attempt is refused on either, right password or not.

The Limiter is a module-level object whose storage is whichever the last create_app() bound,
so two apps in one process share storage even with memory://. To show that instances really
share through Redis (and would not without it), one test also runs the second instance in a
separate process, as gunicorn workers and separate hosts are.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from paywall.extensions import db
from tests.conftest import build_app
from tests.helpers import PASSWORD, make_user, post_form

REDIS_URL = os.environ.get("PAYWALL_TEST_REDIS_URL", "")
ROOT = Path(__file__).resolve().parent.parent
WRONG = "not the password at all"
ACCOUNT_LIMIT = "5 per 15 minutes"


def unique_email() -> str:
    return f"ratelimit-{uuid.uuid4().hex[:12]}@example.com"


def unique_ip() -> str:
    """A documentation address per test, so the per-IP limit of other tests never counts here."""
    return f"203.0.113.{random.randint(1, 254)}"


@pytest.fixture
def shared_db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shared.db'}"


def instance(database_url: str, redis_url: str | None) -> Flask:
    return build_app(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        RATELIMIT_SIGNIN_PER_ACCOUNT=ACCOUNT_LIMIT,
    )


def client_from(app: Flask, ip: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def signin(client: FlaskClient, email: str, password: str) -> int:
    return post_form(client, "/signin", {"email": email, "password": password}).status_code


def create_user(app: Flask, email: str) -> None:
    with app.app_context():
        make_user(email=email)
        db.session.remove()


def signin_elsewhere(
    config: dict[str, Any], ip: str, email: str, passwords: list[str]
) -> list[int]:
    """Sign-in attempts made by an app instance in another Python process."""
    script = """
import json, sys
from paywall import create_app
from tests.helpers import post_form
args = json.loads(sys.argv[1])
app = create_app({"ENV_NAME": "testing", **args["config"]})
client = app.test_client()
client.environ_base["REMOTE_ADDR"] = args["ip"]
print(json.dumps([
    post_form(client, "/signin", {"email": args["email"], "password": p}).status_code
    for p in args["passwords"]
]))
"""
    args = json.dumps({"config": config, "ip": ip, "email": email, "passwords": passwords})
    done = subprocess.run(
        [sys.executable, "-c", script, args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    statuses: list[int] = json.loads(done.stdout.strip().splitlines()[-1])
    return statuses


@pytest.fixture
def redis_client() -> Iterator[Any]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        client.close()


def account_keys(redis_client: Any, email: str) -> dict[str, int]:
    keys = redis_client.keys(f"*address:{email}/*")
    return {key.decode(): int(redis_client.get(key)) for key in keys}


@pytest.mark.redis
def test_two_instances_share_failed_signins_through_redis(
    shared_db: str, redis_client: Any
) -> None:
    email, ip = unique_email(), unique_ip()
    first = instance(shared_db, REDIS_URL)
    second = instance(shared_db, REDIS_URL)
    create_user(first, email)
    one, two = client_from(first, ip), client_from(second, ip)

    assert [signin(one, email, WRONG) for _ in range(3)] == [400] * 3
    assert [signin(two, email, WRONG) for _ in range(2)] == [400] * 2

    # The count lives in Redis, under the address, with the 15-minute window.
    keys = account_keys(redis_client, email)
    assert list(keys.values()) == [5], keys
    (key,) = keys
    assert 0 < redis_client.ttl(key) <= 15 * 60

    assert signin(one, email, PASSWORD) == 429
    assert signin(two, email, PASSWORD) == 429
    assert signin(two, email, WRONG) == 429
    # Refused attempts are not counted again.
    assert list(account_keys(redis_client, email).values()) == [5]


@pytest.mark.redis
def test_an_instance_in_another_process_sees_the_same_count(shared_db: str) -> None:
    email, ip = unique_email(), unique_ip()
    first = instance(shared_db, REDIS_URL)
    create_user(first, email)
    one = client_from(first, ip)
    config = {
        "DATABASE_URL": shared_db,
        "REDIS_URL": REDIS_URL,
        "RATELIMIT_SIGNIN_PER_ACCOUNT": ACCOUNT_LIMIT,
    }

    assert [signin(one, email, WRONG) for _ in range(3)] == [400] * 3
    assert signin_elsewhere(config, ip, email, [WRONG, WRONG, PASSWORD]) == [400, 400, 429]
    assert signin(one, email, PASSWORD) == 429


def test_without_redis_instances_in_other_processes_count_apart(shared_db: str) -> None:
    """The control: with memory:// each process counts alone, so the sixth attempt passes."""
    email, ip = unique_email(), unique_ip()
    first = instance(shared_db, None)
    create_user(first, email)
    one = client_from(first, ip)
    config = {
        "DATABASE_URL": shared_db,
        "REDIS_URL": None,
        "RATELIMIT_SIGNIN_PER_ACCOUNT": ACCOUNT_LIMIT,
    }

    assert [signin(one, email, WRONG) for _ in range(3)] == [400] * 3
    assert signin_elsewhere(config, ip, email, [WRONG, WRONG, PASSWORD]) == [400, 400, 303]
    # This process still counts its own three: two more are allowed here, then 429.
    assert [signin(one, email, WRONG) for _ in range(2)] == [400] * 2
    assert signin(one, email, PASSWORD) == 429


def full_width(text: str) -> str:
    """Printable ASCII as its full-width forms (U+FF01...): a spelling NFKC folds back."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


@pytest.mark.redis
def test_look_alike_spellings_share_one_count_in_redis(shared_db: str, redis_client: Any) -> None:
    email, ip = unique_email(), unique_ip()
    local = email.partition("@")[0]
    spellings = [
        email.upper(),
        f"{local}@ｅxample.com",
        f"{local}@𝐞xample.com",
        f"{full_width(local)}@example.com",
        email,
    ]
    first = instance(shared_db, REDIS_URL)
    second = instance(shared_db, REDIS_URL)
    create_user(first, email)
    one, two = client_from(first, ip), client_from(second, ip)

    statuses = [signin((one, two)[n % 2], spelling, WRONG) for n, spelling in enumerate(spellings)]
    assert statuses == [400] * 5
    # One key, under the canonical spelling, holds all five.
    assert list(account_keys(redis_client, email).values()) == [5]
    assert signin(one, f"{local.upper()}@EXAMPLE.COM", PASSWORD) == 429
