"""The `paywall` command: what it does, and one clear line on stderr for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from paywall.accounts.comp import running_comps
from paywall.accounts.models import User
from paywall.content.models import Attachment, ContentItem
from paywall.extensions import db
from tests.conftest import PRODUCTION_ENV

PAYWALL = str(Path(sys.executable).parent / "paywall")


def test_create_admin_creates_then_promotes(app, make_user):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["create-admin", "Boss@Example.com", "--password", "a long admin pass"]
    )
    assert result.exit_code == 0, result.output
    boss = db.session.scalar(select(User).where(User.email == "boss@example.com"))
    assert boss.is_staff and boss.access.premium and boss.access.source == "staff"
    make_user(email="reader@example.com")
    result = runner.invoke(args=["create-admin", "reader@example.com"])
    assert "Promoted admin reader@example.com" in result.output


def test_seed_demo_is_idempotent(app):
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["seed-demo"])
        assert result.exit_code == 0, result.output
    assert db.session.scalar(select(db.func.count(User.id))) == 3
    assert "admin@example.com" in result.output and "member@example.com" in result.output
    kinds = dict(
        db.session.execute(
            select(ContentItem.kind, db.func.count()).group_by(ContentItem.kind)
        ).all()
    )
    assert kinds["article"] >= 4 and kinds["memo"] >= 4 and kinds["trend_report"] >= 3
    assert kinds["industry_newsletter"] == 9 and kinds["live_qa"] == 2 and kinds["event"] == 2
    assert db.session.scalar(select(db.func.count(Attachment.id))) == 1
    member = db.session.scalar(select(User).where(User.email == "member@example.com"))
    assert member.access.premium and member.access.source == "comp"
    assert len(running_comps(member)) == 1, "seeding twice gives one grant"
    assert member.name == "Maya Member"  # so staff can try search by name on the demo


@pytest.fixture
def cli_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYWALL_")}
    env.update(PAYWALL_CONFIG="testing", PAYWALL_DATABASE_URL=f"sqlite:///{tmp_path}/cli.db")
    subprocess.run([PAYWALL, "db", "upgrade"], env=env, check=True, capture_output=True)
    return env


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create-admin", "not-an-email", "--password", "a long admin pass"], "valid email"),
        (["create-admin", "new@example.com"], "needs a password"),
        (["create-admin", "new@example.com", "--password", "short"], "at least 8"),
        (["create-admin"], "Missing argument"),
        (["no-such-command"], "No such command"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(cli_env, args, message):
    result = subprocess.run([PAYWALL, *args], env=cli_env, capture_output=True, text=True)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_worker_once_drains_and_exits(cli_env):
    result = subprocess.run(
        [PAYWALL, "worker", "--once"], env=cli_env, capture_output=True, text=True
    )
    assert result.returncode == 0 and "worker: 0 done" in result.stdout


@pytest.fixture
def production_env(cli_env):
    """Settings production accepts (so a refusal is the command's own)."""
    return dict(cli_env, **PRODUCTION_ENV)


def test_production_refuses_seed_demo(production_env):
    env = production_env
    result = subprocess.run([PAYWALL, "seed-demo"], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "paywall: seed-demo is refused in production: demo passwords are public"
    )


def test_newsletter_export_of_an_unknown_list_is_one_clear_line(cli_env):
    result = subprocess.run([PAYWALL, "newsletters", "export", "nope"], env=cli_env,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "paywall: no newsletter called 'nope' (one of: takeaway, middle-east-minute, "
        "daily-briefing, business-tech, security, gulf, israel, palestine, turkey, iraq)"
    ]


def test_the_stripe_emulator_refuses_production(production_env):
    env = production_env
    result = subprocess.run([PAYWALL, "stripe-emulator"], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "paywall: the Stripe emulator never runs under the production config"
    )


def test_the_stripe_emulator_serves_on_127_0_0_1_and_keeps_state(cli_env, tmp_path):
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    state = tmp_path / "stripe.json"

    def start():
        command = [PAYWALL, "stripe-emulator", "--port", str(port), "--state", str(state)]
        process = subprocess.Popen(command, env=cli_env, stdout=subprocess.PIPE, text=True)
        assert "Stripe emulator on http://127.0.0.1:" in process.stdout.readline()
        return process

    def call(path, body=None):
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body)
        request.add_header("Authorization", "Bearer sk_test_cli")
        for _ in range(50):
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return json.loads(response.read())
            except ConnectionRefusedError:
                time.sleep(0.1)
        raise AssertionError("the emulator did not answer")

    process = start()
    try:
        customer = call("/v1/customers", b"email=kept%40example.com")
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
    process = start()  # a restart with the same --state finds the customer again
    try:
        assert call(f"/v1/customers/{customer['id']}")["email"] == "kept@example.com"
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def test_teams_create_bad_input_is_one_clear_line(cli_env):
    args = ["teams", "create", "--name", "Acme", "--seats", "0", "--manager", "boss@acme.example",
            "--billing", "manual"]  # fmt: skip
    result = subprocess.run([PAYWALL, *args], env=cli_env, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["paywall: Seats must be between 1 and 10000."]
