"""The staff console: dashboard figures against a hand-computed fixture, member search, the
member page and its timeline, staff actions (each audited), the Stripe event log with replay,
and the audit log."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from paywall import audit, clock
from paywall.accounts.models import User
from paywall.admin import dashboard
from paywall.billing.models import StripeEvent, Subscription
from paywall.extensions import db
from paywall.teams.models import Team, TeamInvite, TeamMember
from tests.conftest import PG_URL
from tests.helpers import csrf_token, make_item, make_user, sign_in

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
# Both databases (where PostgreSQL is set): SQLite's integers are 64-bit, PostgreSQL's INTEGER
# 32; SQLite searches prefixes by range, PostgreSQL by LIKE on text_pattern_ops indexes.
ON_BOTH = pytest.mark.parametrize(
    "app_config", [{}, pytest.param({"DATABASE_URL": PG_URL}, marks=pytest.mark.postgres)]
)


@pytest.fixture
def frozen(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(clock, "now", lambda: NOW)
    return NOW


@pytest.fixture
def staff(app):  # type: ignore[no-untyped-def]
    client = app.test_client()
    make_user(email="staff@example.com", role="admin")
    sign_in(client, "staff@example.com")
    return client


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def subscription(n: int, **fields) -> Subscription:  # type: ignore[no-untyped-def]
    row = Subscription(stripe_subscription_id=f"sub_{n}", stripe_customer_id=f"cus_{n}",
                       plan=fields.pop("plan", "pro_annual"), status=fields.pop("status", "active"),
                       **fields)  # fmt: skip
    db.session.add(row)
    return row


def reader_with(email: str, source: str | None, until: datetime | None) -> User:
    user = User(email=email, access_premium=source is not None, access_source=source,
                access_until=until)  # fmt: skip
    db.session.add(user)
    return user


def test_dashboard_figures_match_a_hand_computed_fixture(app, staff, frozen) -> None:  # type: ignore[no-untyped-def]
    # Access: 2 on trial, 1 by subscription, 1 by team, 1 comp, 1 comp that ran out yesterday,
    # 2 with none; plus the staff account itself (source staff).
    reader_with("t1@example.com", "trial", days_ago(-3))
    reader_with("t2@example.com", "trial", days_ago(-6))
    reader_with("s1@example.com", "subscription", days_ago(-200))
    reader_with("team1@example.com", "team", days_ago(-100))
    reader_with("c1@example.com", "comp", None)
    reader_with("c2@example.com", "comp", days_ago(1))  # stored premium, but ran out
    reader_with("n1@example.com", None, None)
    reader_with("n2@example.com", None, None)
    # Subscriptions (window = the last 30 days, from 26 October 12:00):
    # 1: trial started 20 days ago, ended 13 days ago, converted (paid since then), active.
    subscription(1, trial_start=days_ago(20), trial_end=days_ago(13), paid_since=days_ago(13))
    # 2: trial started 10 days ago, ended 3 days ago, not converted: canceled.
    subscription(2, status="canceled", trial_start=days_ago(10), trial_end=days_ago(3),
                 ended_at=days_ago(3))  # fmt: skip
    # 3: trial started 2 days ago, running.
    subscription(3, status="trialing", trial_start=days_ago(2), trial_end=days_ago(-5))
    # 4: trial long ago (60 days), converted 53 days ago, active: paying at the window start.
    subscription(4, trial_start=days_ago(60), trial_end=days_ago(53), paid_since=days_ago(53))
    # 5: paid since a year ago without trial, canceled 5 days ago: a cancellation.
    subscription(5, status="canceled", paid_since=days_ago(365), ended_at=days_ago(5))
    # 6: paid since 200 days ago, past due now (still counted in ARR).
    subscription(6, status="past_due", paid_since=days_ago(200))
    # 7: a team subscription, 12 seats, paying since 40 days ago.
    subscription(7, plan="team_annual", quantity=12, paid_since=days_ago(40),
                 collection_method="send_invoice")  # fmt: skip
    # 8: ended 40 days ago: outside the window, and not paying at its start.
    subscription(8, status="canceled", paid_since=days_ago(400), ended_at=days_ago(40))
    # 9: paid since 20 days ago and canceled 2 days ago: a cancellation, but not churn (it
    # was not paying at the window's start).
    subscription(9, status="canceled", paid_since=days_ago(20), ended_at=days_ago(2))
    # 10: a lapsed team's subscription.
    subscription(10, status="canceled", plan="team_annual", quantity=9, paid_since=days_ago(800),
                 ended_at=days_ago(70))  # fmt: skip
    # Teams: A pays by invoice (subscription 7), B is manual and paid up; C is a manual team
    # that ran out, D a card team that never paid, E lapsed: their seats give nobody access.
    db.session.add_all([
        Team(name="A", seats=12, seats_used=5, billing="invoice", stripe_subscription_id="sub_7"),
        Team(name="B", seats=3, seats_used=3, billing="manual", paid_until=days_ago(-30)),
        Team(name="C", seats=5, seats_used=2, billing="manual", paid_until=days_ago(1)),
        Team(name="D", seats=4, seats_used=0, billing="card"),
        Team(name="E", seats=9, seats_used=6, billing="invoice", stripe_subscription_id="sub_10"),
    ])  # fmt: skip
    db.session.commit()

    figures = dashboard.figures(NOW)
    assert figures.members == 9
    assert figures.premium == {"trial": 2, "subscription": 1, "team": 1, "comp": 1, "staff": 1}
    assert (figures.trials_started, figures.trials_ended, figures.trials_converted) == (3, 2, 1)
    assert figures.conversion_rate == 0.5
    assert figures.conversions == 1  # subscription 1 (4 converted before the window)
    # ARR: active or past due: 1, 4, 6 at $300, and 12 team seats at $300.
    assert figures.arr_cents == (3 + 12) * 30000 and figures.mrr_cents == 37500
    # Paying at the window start: 4, 5, 6 and 7 (8 and 10 had ended; 1 and 9 began later).
    # Cancellations: 5 and 9; churn: only 5, of the four.
    assert (figures.cancellations, figures.paying_at_start, figures.churned) == (2, 4, 1)
    assert (figures.teams, figures.seats_paid, figures.seats_used) == (2, 15, 8)

    page = staff.get("/admin/").get_data(as_text=True)
    for cell, value in [("premium-trial", "2"), ("trials-started", "3"), ("conversion-rate", "50.0%"),
                        ("cancellations", "2"), ("churn-rate", "25.0%"), ("arr", "$4,500.00"),
                        ("mrr", "$375.00"), ("seats", "8 / 15"), ("teams", "2")]:  # fmt: skip
        assert f'id="{cell}">{value}<' in page, cell

    series = dashboard.daily(NOW)
    trials = dict(series["trials"])
    assert len(series["trials"]) == 90 and sum(trials.values()) == 4  # 20, 10, 2 and 60 days ago
    assert trials[days_ago(20).date()] == 1 and trials[days_ago(60).date()] == 1
    assert sum(dict(series["conversions"]).values()) == 2  # 13 and 53 days ago
    assert dict(series["cancellations"])[days_ago(5).date()] == 1
    # 9, 5, 8 and 10: 2, 5, 40 and 70 days ago (each had paid)
    assert sum(dict(series["cancellations"]).values()) == 4
    assert f"<title>{days_ago(20).date().isoformat()}: 1</title>" in page
    assert "<script" not in page.split("<h2>Last 90 days</h2>")[1]


def test_an_empty_database_gives_a_dashboard_without_errors(app, staff) -> None:  # type: ignore[no-untyped-def]
    page = staff.get("/admin/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'id="conversion-rate">—<' in text and 'id="arr">$0.00<' in text


@ON_BOTH
def test_search_by_email_prefix_and_name(app, staff) -> None:  # type: ignore[no-untyped-def]
    for email, name in [("alice@acme.example", "Alice Archer"), ("alina@example.com", "Bob"),
                        ("bob@example.com", "Alfred"), ("a_b@example.com", None),
                        ("zed@example.com", "Zed 100%")]:  # fmt: skip
        user = make_user(email=email)
        user.name = name
    db.session.commit()

    def found(query: str) -> list[str]:
        page = staff.get("/admin/members/", query_string={"q": query}).get_data(as_text=True)
        return re.findall(r'/admin/members/\d+">([^<]+)</a>', page)

    assert found("ALI") == ["alice@acme.example", "alina@example.com"]
    assert found("al") == ["alice@acme.example", "alina@example.com", "bob@example.com"]  # Alfred
    assert found("alice@") == ["alice@acme.example"]
    assert found("a_") == ["a_b@example.com"]  # not a wildcard
    assert found("%") == [] and found("zed 100%") == ["zed@example.com"]
    assert found("nobody") == []
    assert "staff@example.com" in found("")  # newest members when empty
    # A surname, from its start and in any case; accents too (lower-cased in Python, so also
    # on SQLite, whose lower() knows only ASCII).
    make_user(email="jean@example.com").name = "Jean-Luc Émile Dubois"
    make_user(email="solo@example.com").name = "Cher"
    db.session.commit()
    assert found("archer") == found("ARCH") == ["alice@acme.example"]
    assert found("dubois") == found("DUB") == ["jean@example.com"]
    assert found("alice ar") == ["alice@acme.example"]  # from the start of the whole name
    assert found("cher") == ["solo@example.com"]  # one word: the name itself
    alice = db.session.scalar(select(User).where(User.email == "alice@acme.example"))
    alice.name = "Alice Smith"  # renamed: the old surname no longer finds her
    db.session.commit()
    assert found("archer") == [] and found("smith") == ["alice@acme.example"]


def test_the_member_page_explains_access_and_shows_the_timeline(app, staff, outbox) -> None:  # type: ignore[no-untyped-def]
    member = make_user(email="ana@example.com")
    reader = app.test_client()
    sign_in(reader, "ana@example.com")
    member.stripe_customer_id = "cus_ana"
    db.session.add(StripeEvent(id="evt_1", type="invoice.paid", created=clock.now(), payload={},
                               status="processed", customer_id="cus_ana"))  # fmt: skip
    db.session.commit()
    home = f"/admin/members/{member.id}"
    page = staff.get(home).get_data(as_text=True)
    assert "No PRO access." in page and "No grants" in page
    assert "password" in page.split('id="signins"')[1]  # the sign-in, with its method
    token = csrf_token(staff, home)
    until = (clock.now() + timedelta(days=30)).date()
    answer = staff.post(home + "/comp", data={"csrf_token": token, "until": until.isoformat(),
                                              "reason": "press pass"})  # fmt: skip
    assert answer.status_code == 303
    page = staff.get(home).get_data(as_text=True)
    assert "<strong>PRO</strong> by comp until" in page
    timeline = page.split('id="timeline"')[1]
    for line in ("Access: PRO by complimentary access until", "Complimentary access until",
                 "member.comp_granted by staff@example.com", "Stripe: invoice.paid"):  # fmt: skip
        assert line in timeline, line
    assert '/admin/events/evt_1"' in timeline
    # A bad date comes back on the field; a missing reason too.
    bad = staff.post(home + "/comp", data={"csrf_token": token, "until": "2020-01-01",
                                           "reason": "late"})  # fmt: skip
    assert bad.status_code == 400 and "The end date must be in the future." in bad.get_data(
        as_text=True
    )
    assert staff.post(home + "/comp", data={"csrf_token": token, "until": ""}).status_code == 400
    assert staff.get("/admin/members/999999").status_code == 404


def test_every_staff_action_is_audited(app, staff, outbox, run_worker) -> None:  # type: ignore[no-untyped-def]
    member = make_user(email="ana@example.com")
    home = f"/admin/members/{member.id}"
    token = csrf_token(staff, home)
    reader = app.test_client()
    sign_in(reader, "ana@example.com")
    until = (clock.now() + timedelta(days=30)).date().isoformat()
    steps = [
        ("/comp", {"until": until, "reason": "press"}, "member.comp_granted"),
        ("/comp/end", {}, "member.comp_ended"),
        ("/signin-link", {}, "member.signin_link_sent"),
        ("/role", {"role": "admin"}, "member.role_changed"),
        ("/role", {"role": "reader"}, "member.role_changed"),
        ("/disable", {}, "member.disabled"),
        ("/enable", {}, "member.enabled"),
    ]
    for path, data, action in steps:
        before = db.session.scalar(select(func.count()).select_from(audit.AuditEntry))
        answer = staff.post(home + path, data={"csrf_token": token, **data})
        assert answer.status_code == 303, (path, answer.get_data(as_text=True))
        entry = db.session.scalars(
            select(audit.AuditEntry).order_by(audit.AuditEntry.id.desc())
        ).first()
        assert entry is not None and entry.action == action and entry.subject_id == member.id
        assert entry.actor_email == "staff@example.com"
        assert db.session.scalar(select(func.count()).select_from(audit.AuditEntry)) == before + 1
        if path == "/disable":  # every session ends at once
            assert reader.get("/account").status_code == 302
    run_worker()
    assert outbox("ana@example.com"), "the sign-in link was mailed"
    # Staff cannot lock themselves out.
    me = db.session.scalar(select(User.id).where(User.email == "staff@example.com"))
    refused = staff.post(f"/admin/members/{me}/role", data={"csrf_token": token, "role": "reader"})
    assert refused.status_code == 400
    assert staff.post(f"/admin/members/{me}/disable", data={"csrf_token": token}).status_code == 400
    log = staff.get("/admin/audit", query_string={"action": "member."}).get_data(as_text=True)
    assert log.count("member.") >= len(steps)
    assert (
        "team."
        not in staff.get("/admin/audit", query_string={"action": "member.role"})
        .get_data(as_text=True)
        .split('id="audit"')[1]
    )


def test_replay_a_failed_event_from_the_screen(app, staff, run_worker, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from paywall.billing import webhooks

    db.session.add_all([
        StripeEvent(id="evt_bad1", type="customer.subscription.updated", created=clock.now(),
                    payload={"data": {"object": {"id": "sub_x"}}}, status="failed", error="boom"),
        StripeEvent(id="evt_bad2", type="customer.subscription.updated", created=clock.now(),
                    payload={"data": {"object": {"id": "sub_y"}}}, status="failed", error="boom"),
        StripeEvent(id="evt_ok", type="invoice.upcoming", created=clock.now(),
                    payload={"data": {"object": {"id": "in_1"}}}, status="ignored"),
    ])  # fmt: skip
    db.session.commit()
    page = staff.get("/admin/events", query_string={"status": "failed"}).get_data(as_text=True)
    assert "2 failed." in page and "evt_bad1" in page and "invoice.upcoming" not in page
    # The handler works now (Stripe is back): replay one from its page.
    seen: list[str] = []
    monkeypatch.setitem(webhooks.HANDLERS, "customer.subscription.updated",
                        lambda obj, replay: seen.append(obj["id"]))  # fmt: skip
    token = csrf_token(staff, "/admin/events/evt_bad1")
    answer = staff.post("/admin/events/evt_bad1/replay", data={"csrf_token": token})
    assert answer.status_code == 303 and "notice=replayed" in answer.headers["Location"]
    assert seen == ["sub_x"]
    assert 'id="outcome">processed' in staff.get("/admin/events/evt_bad1").get_data(as_text=True)
    # All failed: queued for the worker, which replays them.
    answer = staff.post("/admin/events/replay-failed", data={"csrf_token": token})
    assert answer.status_code == 303
    run_worker()
    db.session.expire_all()
    assert seen == ["sub_x", "sub_y"]
    assert db.session.get(StripeEvent, "evt_bad2").status == "processed"
    actions = list(db.session.scalars(select(audit.AuditEntry.action)))
    assert actions == ["stripe.event_replayed", "stripe.failed_events_replay_queued"]
    assert (
        staff.post("/admin/events/evt_nope/replay", data={"csrf_token": token}).status_code == 404
    )


def test_every_admin_post_route_writes_the_audit_log(app, staff, outbox) -> None:  # type: ignore[no-untyped-def]
    """Walked from the URL map: a new staff action without a case here fails this test."""
    member = make_user(email="ana@example.com")
    cli = app.test_cli_runner()
    assert cli.invoke(args=["teams", "create", "--name", "Acme", "--seats", "3", "--manager",
                            "ana@example.com", "--billing", "manual"]).exit_code == 0  # fmt: skip
    team = db.session.scalar(select(Team))
    db.session.add(TeamMember(team_id=team.id, user_id=member.id, joined_at=clock.now()))
    team.seats_used = 1
    db.session.add(StripeEvent(id="evt_1", type="x.unknown", created=clock.now(), payload={},
                               status="failed"))  # fmt: skip
    db.session.commit()
    seat = db.session.scalar(select(TeamMember.id))
    invite = db.session.scalar(select(TeamInvite.id))
    issue = make_item(kind="industry_newsletter", published=False)  # id 1: the memo is 2
    soon = (clock.now() + timedelta(days=9)).date().isoformat()
    memo = {"kind": "memo", "slug": "m", "title": "M", "access": "premium", "teaser": "T",
            "body_markdown": "B", "action": "draft"}  # fmt: skip
    m, t = f"/admin/members/{member.id}", f"/admin/teams/{team.id}"
    cases = {  # endpoint: (path, form)
        "admin.comp": ("/admin/comp", {"email": "ana@example.com", "until": soon, "reason": "r"}),
        "admin.end_comp": ("/admin/comp/end", {"end-email": "ana@example.com"}),
        "admin_content.create": ("/admin/content/new", memo),
        "admin_content.edit": ("/admin/content/2/edit", {**memo, "title": "N"}),
        "admin_content.publish": ("/admin/content/2/publish", {}),
        "admin_content.unpublish": ("/admin/content/2/unpublish", {}),
        "admin_content.send_test": (f"/admin/content/{issue.id}/test", {}),
        "admin_logs.replay": ("/admin/events/evt_1/replay", {}),
        "admin_logs.replay_failed": ("/admin/events/replay-failed", {}),
        "admin_members.grant_comp": (m + "/comp", {"until": soon, "reason": "r"}),
        "admin_members.end_comp": (m + "/comp/end", {}),
        "admin_members.signin_link": (m + "/signin-link", {}),
        "admin_members.role": (m + "/role", {"role": "admin"}),
        "admin_members.disable": (m + "/disable", {}),
        "admin_members.enable": (m + "/enable", {}),
        "admin_members_transfer.import_members": (
            "/admin/members/import",
            {"file": (io.BytesIO(b"email\nnew@example.com\n"), "new.csv")},
        ),  # not a dry run
        "admin_members_transfer.export": ("/admin/members/export.csv", {}),
        "admin_teams.index": (
            "/admin/teams/",
            {
                "name": "Globex",
                "seats": "2",
                "billing": "manual",
                "manager_email": "g@globex.example",
            },
        ),
        "admin_teams.edit": (t + "/edit", {"name": "Acme Co", "domains": "", "paid_until": soon}),
        "admin_teams.seats": (t + "/seats", {"seats": "4"}),
        "admin_teams.invite_manager": (t + "/managers", {"manager_email": "m2@acme.example"}),
        "admin_teams.revoke_invite": (f"{t}/invites/{invite}/revoke", {}),
        "admin_teams.make_manager": (f"{t}/members/{seat}/manager", {}),
        "admin_teams.remove_member": (f"{t}/members/{seat}/remove", {}),
        "admin_newsletters.suppress": ("/admin/newsletters/suppressions",
                                       {"email": "gone@example.com", "reason": "r"}),
        "admin_newsletters.unsuppress": ("/admin/newsletters/suppressions/remove",
                                         {"email": "gone@example.com"}),
    }  # fmt: skip
    posts = {r.endpoint for r in app.url_map.iter_rules()
             if r.rule.startswith("/admin") and "POST" in (r.methods or ())}  # fmt: skip
    assert posts == set(cases), posts ^ set(cases)
    token = csrf_token(staff, "/admin/")
    for endpoint, (path, form) in cases.items():
        before = db.session.scalar(select(func.count()).select_from(audit.AuditEntry))
        answer = staff.post(path, data={"csrf_token": token, **form})
        assert answer.status_code in (200, 303), (endpoint, answer.status_code)
        after = db.session.scalar(select(func.count()).select_from(audit.AuditEntry))
        assert after > before, f"{endpoint} wrote nothing to the audit log"
        newest = db.session.scalars(
            select(audit.AuditEntry).order_by(audit.AuditEntry.id.desc())
        ).first()
        assert newest is not None and newest.actor_email == "staff@example.com", endpoint


HUGE = "99999999999999999999"


@ON_BOTH
def test_ids_too_big_for_the_database_are_404_never_500(app, staff) -> None:  # type: ignore[no-untyped-def]
    """Walked from the URL map: every <int:> segment of every route, as staff with a token."""
    token = csrf_token(staff, "/admin/")
    with_ids = [r for r in app.url_map.iter_rules() if "<int:" in r.rule]
    assert len(with_ids) >= 20
    for number in (HUGE, str(2**31)):  # 2**31: just past PostgreSQL's INTEGER
        for rule in with_ids:
            path = re.sub(r"<[^>]+>", "x", re.sub(r"<int:[^>]+>", number, rule.rule))
            for method in {"GET", "POST"} & set(rule.methods or ()):
                answer = staff.open(path, method=method, data={"csrf_token": token})
                assert answer.status_code == 404, (method, path, answer.status_code)
    assert staff.get(f"/admin/members/{2**31 - 1}").status_code == 404  # in range: no such member


@ON_BOTH
def test_odd_numbers_in_query_strings_are_never_a_500(app, staff) -> None:  # type: ignore[no-untyped-def]
    for path in ("/admin/teams/?request=", "/memos?page=", "/admin/members/?q=",
                 "/admin/events?before=", "/admin/audit?team="):  # fmt: skip
        for odd in (HUGE, str(2**31), "-1", "²", "abc"):
            assert staff.get(path + odd).status_code in (200, 404), path + odd
    assert "Onboard a team" in staff.get("/admin/teams/?request=" + HUGE).get_data(as_text=True)
    # The same number in the onboarding form's hidden request_id: the team is made, no request.
    onboarded = staff.post("/admin/teams/", data={
        "csrf_token": csrf_token(staff, "/admin/teams/"), "name": "Odd Ltd", "seats": "2",
        "manager_email": "boss@odd.example", "billing": "manual", "paid_until": "2031-01-01",
        "request_id": HUGE,
    })  # fmt: skip
    assert onboarded.status_code == 303, onboarded.get_data(as_text=True)[:500]


@ON_BOTH
def test_the_audit_log_filters_ignore_odd_numbers(app, staff) -> None:  # type: ignore[no-untyped-def]
    team = Team(name="Acme", seats=3, billing="manual")
    db.session.add(team)
    db.session.flush()
    audit.record(None, "team.created", "Acme", team_id=team.id)
    db.session.commit()

    def shown(**query: str) -> int:
        answer = staff.get("/admin/audit", query_string=query)
        assert answer.status_code == 200, query
        return answer.get_data(as_text=True).split('id="audit"')[1].count("team.created")

    assert shown(team=str(team.id)) == 1
    for odd in ("²", "١", HUGE, str(2**31), "-1", "1.0", "abc"):
        assert shown(team=odd) == 0, odd  # no team has that id
        assert shown(before=odd) == 1, odd  # a cursor that is no id: the first page
    assert shown(before=str(2**31 - 1)) == 1


def test_the_member_page_shows_subscriptions_invoices_seats_and_newsletters(app, staff) -> None:  # type: ignore[no-untyped-def]
    from paywall.billing.models import Invoice
    from paywall.newsletters.models import ListSubscription

    member = make_user(email="ana@example.com")
    member.stripe_customer_id = "cus_7"
    subscription(7, user_id=member.id, status="past_due",
                 current_period_end=datetime(2027, 3, 1, tzinfo=UTC))  # fmt: skip
    db.session.add(Invoice(stripe_invoice_id="in_ana", stripe_customer_id="cus_7",
                           number="PRO-0042", status="open", total=30000,
                           created=datetime(2026, 3, 1, tzinfo=UTC)))  # fmt: skip
    team = Team(name="Acme Research", seats=3, seats_used=1, billing="manual")
    db.session.add(team)
    db.session.flush()
    db.session.add(TeamMember(team_id=team.id, user_id=member.id, role="manager",
                              joined_at=datetime(2026, 4, 2, tzinfo=UTC)))  # fmt: skip
    db.session.add_all([
        ListSubscription(email="ana@example.com", list_slug="gulf", status="confirmed"),
        ListSubscription(email="ana@example.com", list_slug="turkey", status="pending"),
    ])  # fmt: skip
    db.session.commit()

    def section(page: str, html_id: str) -> str:
        return page.split(f'id="{html_id}"')[1].split("</table>")[0].split("</ul>")[0]

    page = staff.get(f"/admin/members/{member.id}").get_data(as_text=True)
    test = "https://dashboard.stripe.com/test"
    assert f'<a href="{test}/customers/cus_7">cus_7</a>' in section(page, "account")
    subs = section(page, "subscriptions")
    assert f'<a href="{test}/subscriptions/sub_7">sub_7</a>' in subs
    assert "pro_annual" in subs and "past due" in subs and "period ends 1 Mar 2027" in subs
    invoices = section(page, "invoices")
    assert f'<a href="{test}/invoices/in_ana">PRO-0042</a>' in invoices
    assert "$300.00" in invoices and "open" in invoices
    seats = section(page, "seats")
    assert f'/admin/teams/{team.id}">Acme Research</a> (manager): joined 2 Apr 2026' in seats
    assert '<p id="newsletters">gulf</p>' in page  # confirmed lists only
    # With a live key the links go to the live dashboard.
    app.config["STRIPE_SECRET_KEY"] = "sk_live_example"
    page = staff.get(f"/admin/members/{member.id}").get_data(as_text=True)
    assert 'href="https://dashboard.stripe.com/subscriptions/sub_7"' in page
    assert 'href="https://dashboard.stripe.com/invoices/in_ana"' in page
    assert "dashboard.stripe.com/test/" not in page


def test_an_action_that_changes_nothing_says_so_and_is_not_audited(app, staff) -> None:  # type: ignore[no-untyped-def]
    member = make_user(email="ana@example.com", disabled=True)
    home = f"/admin/members/{member.id}"
    token = csrf_token(staff, home)
    count = select(func.count()).select_from(audit.AuditEntry)
    for path, data, words in [
        ("/disable", {}, "Nothing changed: the account was already disabled."),
        ("/role", {"role": "reader"}, "Nothing changed: the member already has that role."),
    ]:
        answer = staff.post(home + path, data={"csrf_token": token, **data})
        assert answer.status_code == 303
        assert words in staff.get(answer.headers["Location"]).get_data(as_text=True)
        assert db.session.scalar(count) == 0, path
    staff.post(home + "/enable", data={"csrf_token": token})
    answer = staff.post(home + "/enable", data={"csrf_token": token})
    page = staff.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Nothing changed: the account was already enabled." in page
    assert db.session.scalar(count) == 1  # the one real change
