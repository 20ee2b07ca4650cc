"""Programs' endpoints: /api/v1/me, /healthz, /metrics, the dev mailbox and /admin/."""

from __future__ import annotations

import re

from sqlalchemy.exc import OperationalError

from paywall import jobs
from paywall.extensions import db
from paywall.jobs import Job
from tests.helpers import csrf_token, post_form, sign_in


def test_me_for_visitors_readers_and_staff(client, make_user):
    assert client.get("/api/v1/me").json == {
        "authenticated": False,
        "email": None,
        "access": {"premium": False, "source": None, "until": None},
    }
    make_user(email="reader@example.com")
    sign_in(client, "reader@example.com")
    assert client.get("/api/v1/me").json["access"]["premium"] is False
    client.post("/signout")
    make_user(email="staff@example.com", role="admin")
    sign_in(client, "staff@example.com")
    body = client.get("/api/v1/me").json
    assert body["email"] == "staff@example.com"
    assert body["access"] == {"premium": True, "source": "staff", "until": None}


def test_healthz_reports_the_database(client, monkeypatch):
    assert client.get("/healthz").json == {"status": "ok", "database": "ok"}

    def unreachable(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(db.session, "execute", unreachable)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "unreachable"


def test_metrics_count_requests_and_queue_depth(client, run_worker):
    client.get("/")
    post_form(client, "/signin/link", {"email": "someone@example.com"})
    text = client.get("/metrics").get_data(as_text=True)
    assert (
        'paywall_http_requests_total{endpoint="content.home",method="GET",status="200"} 1.0' in text
    )
    assert "paywall_http_request_duration_seconds_bucket" in text
    assert "paywall_jobs_queued 1.0" in text
    assert "paywall_outbox_queued 0.0" in text


def test_admin_is_404_for_visitors_and_readers_and_open_to_staff(app, make_user):
    staff_only = {r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/admin")}
    assert staff_only
    make_user(email="reader@example.com")
    make_user(email="staff@example.com", role="admin")
    visitor, reader, staff = app.test_client(), app.test_client(), app.test_client()
    sign_in(reader, "reader@example.com")
    sign_in(staff, "staff@example.com")
    for rule in staff_only:
        path = re.sub(r"<[^>]+>", "1", rule)
        for client in (visitor, reader):
            assert client.get(path).status_code == 404, path
            token = csrf_token(client, "/signin")
            assert client.post(path, data={"csrf_token": token}).status_code == 404, path
            # The staff gate runs first: without it a missing token would be CSRF's 400, no
            # slash the router's 308, a POST-only route's GET a 405, OPTIONS a list of methods.
            untokened = client.post(path)
            assert untokened.status_code == 404, path
            assert "This page does not exist." in untokened.get_data(as_text=True), path
            assert client.get(path.rstrip("/")).status_code == 404, path
            assert client.options(path).status_code == 404, path
    assert staff.get("/admin/").status_code == 200
    assert staff.get("/admin/members").status_code == 308  # the redirect is there, for staff
    assert staff.post("/admin/members/1/disable").status_code == 400  # and the CSRF check


def test_dev_mailbox_lists_mail_newest_first(client, run_worker):
    post_form(client, "/signup", {"email": "first@example.com", "password": "long enough pass"})
    post_form(client, "/signup", {"email": "second@example.com", "password": "long enough pass"})
    run_worker()
    mails = client.get("/dev/mail.json").json["mails"]
    assert [m["to"] for m in mails] == ["second@example.com", "first@example.com"]
    assert all(m["text"] and m["html"].startswith("<!doctype html>") for m in mails)
    page = client.get("/dev/mail").get_data(as_text=True)
    assert page.index("second@example.com") < page.index("first@example.com")
    assert '<a href="http://127.0.0.1:5000/verify/' in page


def test_a_failing_job_is_retried_and_then_given_up(app, run_worker, monkeypatch):
    calls = []

    @jobs.job("test.flaky")
    def flaky(payload):
        calls.append(payload)
        raise RuntimeError("downstream is down")

    jobs.enqueue("test.flaky", n=1)
    db.session.commit()
    run_worker()
    job = db.session.query(Job).one()
    assert job.status == "queued" and job.attempts == 1 and "downstream is down" in job.last_error
    for _ in range(app.config["MAIL_MAX_ATTEMPTS"]):
        run_worker()
    db.session.refresh(job)
    assert job.status == "failed" and len(calls) == app.config["MAIL_MAX_ATTEMPTS"]
    jobs.HANDLERS.pop("test.flaky")


def test_a_job_that_fails_half_way_leaves_nothing_behind(app, make_user, run_worker, monkeypatch):
    from paywall.accounts import jobs as account_jobs
    from paywall.mail.models import OutboxMail

    make_user(email="reader@example.com")
    post_form(app.test_client(), "/signin/link", {"email": "reader@example.com"})

    def mail_fails(*args, **kwargs):
        raise RuntimeError("template broke")

    monkeypatch.setattr(account_jobs, "queue_mail", mail_fails)
    run_worker()
    from paywall.accounts.models import EmailToken

    assert db.session.query(EmailToken).count() == 0  # the token was rolled back with the mail
    monkeypatch.undo()
    run_worker()
    assert db.session.query(EmailToken).count() == 1
    assert db.session.query(OutboxMail).count() == 1


def test_pro_offer_sends_a_visitor_through_sign_up_to_checkout(client):
    page = client.get("/pro").get_data(as_text=True)
    assert "$25.00 / month" in page and "billed annually ($300.00 a year)" in page
    assert "1-week free trial" in page
    assert "/signup?next=/billing/checkout?plan%3Dpro_annual" in page
