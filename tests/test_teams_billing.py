"""Team billing against the emulator: invoice teams (send_invoice, overdue past grace ends
access), card teams (Checkout link for the manager), seats added with a prorated invoice."""

from __future__ import annotations

import re

import stripe
from sqlalchemy import select

from paywall.audit import AuditEntry
from paywall.billing import sync
from paywall.billing.catalog import reconcile
from paywall.extensions import db
from paywall.mail.models import OutboxMail
from paywall.teams.models import Team
from tests.billing import GOOD, path
from tests.helpers import csrf_token, make_item, make_user, sign_in

SENTINEL = "Sentence for paying teams only."


def last_link(shop, email: str, prefix: str) -> str:  # type: ignore[no-untyped-def]
    text = shop.site.run(lambda: db.session.scalars(
        select(OutboxMail.text_body).where(OutboxMail.to_address == email).order_by(OutboxMail.id.desc())).first())  # fmt: skip
    match = re.search(r"https?://[^\s]+" + re.escape(prefix) + r"[^\s]*", text)
    assert match, text
    return match.group(0)


def join(shop, email: str):  # type: ignore[no-untyped-def]
    client = shop.reader(email)
    link = path(last_link(shop, email, "/team/join/"))
    token = re.search(
        r'name="csrf_token"[^>]*value="([^"]+)"', client.get(link).get_data(as_text=True)
    ).group(1)  # type: ignore[union-attr]
    assert client.post(link, data={"csrf_token": token}).status_code == 303
    return client


def staff_onboards(shop, **form: str):  # type: ignore[no-untyped-def]
    shop.site.run(make_user, email="staff@example.com", role="admin")
    staff = shop.app.test_client()
    sign_in(staff, "staff@example.com")
    answer = staff.post(
        "/admin/teams/",
        data={"csrf_token": csrf_token(staff, "/admin/teams/"), "manager_takes_seat": "y", **form},
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return shop.site.run(lambda: db.session.scalar(select(Team).order_by(Team.id.desc())).id)


def test_an_invoice_team_reads_until_its_invoice_is_overdue_past_grace(shop) -> None:  # type: ignore[no-untyped-def]
    memo = shop.site.run(lambda: make_item(kind="memo", body=SENTINEL).url_path())
    team_id = staff_onboards(
        shop, name="Acme", seats="5", manager_email="boss@acme.example", billing="invoice"
    )
    sub_id = shop.site.run(lambda: db.session.get(Team, team_id).stripe_subscription_id)
    sub = shop.emulator.store.objects[sub_id]
    assert sub["collection_method"] == "send_invoice" and sub["days_until_due"] == 30
    assert shop.emulator.store.objects[sub["_items"][0]]["quantity"] == 5
    invoice = shop.emulator.store.objects[sub["latest_invoice"]]
    assert invoice["status"] == "open" and invoice["amount_due"] == 150000
    assert "invoice.sent" in [e["type"] for e in shop.emulator.events()]
    manager = join(shop, "boss@acme.example")
    assert SENTINEL in manager.get(memo).get_data(as_text=True)
    shop.settle()
    shop.advance(days=31)  # the invoice is overdue: grace starts
    assert SENTINEL in manager.get(memo).get_data(as_text=True)
    shop.advance(days=4)  # past the grace days: team access ends
    assert SENTINEL not in manager.get(memo).get_data(as_text=True)
    # The next sync (here what `paywall stripe-reconcile` runs) puts the lapse in the log.
    assert not [a for _, a, _ in team_log(shop, team_id) if a in ("team.lapsed", "team.restored")]
    assert shop.site.run(reconcile) >= 1
    # Paid by bank transfer, which staff record in Stripe:
    client = stripe.StripeClient(shop.emulator.api_key, base_addresses={"api": shop.emulator.url})
    client.v1.invoices.pay(invoice["id"], {"paid_out_of_band": True})
    shop.settle()
    assert SENTINEL in manager.get(memo).get_data(as_text=True)
    lapses = [
        (who, a, d)
        for who, a, d in team_log(shop, team_id)
        if a in ("team.lapsed", "team.restored")
    ]
    assert lapses == [("stripe", "team.lapsed", {"status": "past_due"}),
                      ("stripe", "team.restored", {"status": "active"})]  # fmt: skip
    page = manager.get("/team").get_data(as_text=True)
    assert "<td>Stripe</td><td>lapsed</td><td>Acme</td><td>status past_due</td>" in page


def team_log(shop, team_id: int) -> list[tuple[str | None, str, dict]]:  # type: ignore[no-untyped-def,type-arg]
    return shop.site.run(lambda: [(e.actor_email, e.action, e.details) for e in db.session.scalars(
        select(AuditEntry).where(AuditEntry.team_id == team_id).order_by(AuditEntry.id))])  # fmt: skip


def test_a_card_team_pays_through_checkout_then_adds_seats(shop) -> None:  # type: ignore[no-untyped-def]
    memo = shop.site.run(lambda: make_item(kind="memo", body=SENTINEL).url_path())
    team_id = staff_onboards(
        shop, name="Globex", seats="4", manager_email="chief@globex.example", billing="card"
    )
    checkout = last_link(shop, "chief@globex.example", "/checkout/")
    manager = join(shop, "chief@globex.example")
    assert SENTINEL not in manager.get(memo).get_data(as_text=True)  # not paid yet
    assert "Payment is pending" in manager.get("/team").get_data(as_text=True)
    # Onboarded with 4 seats; the manager pays for 6 in Checkout: the team has 6.
    assert shop.stripe_pages.post(path(checkout), data={**GOOD, "quantity": "6"}).status_code == 303
    shop.settle()
    assert SENTINEL in manager.get(memo).get_data(as_text=True)
    team = shop.site.run(lambda: db.session.get(Team, team_id))
    assert team.stripe_subscription_id and team.checkout_url is None
    assert team.seats == 6
    log = team_log(shop, team_id)
    assert ("stripe", "team.checkout_completed", {"seats": 6, "status": "active"}) in log
    assert ("stripe", "team.seats_billed", {"seats": [4, 6]}) in log
    page = manager.get("/team").get_data(as_text=True)
    assert "1 of 6 seats used" in page
    assert "<td>Stripe</td><td>seats billed</td><td>Globex</td><td>seats 4 → 6</td>" in page
    # The manager adds 2 seats: billed at once, prorated, and paid by the card on file.
    sub_id = team.stripe_subscription_id
    first_invoice = shop.emulator.store.objects[sub_id]["latest_invoice"]
    answer = manager.post(
        "/team/seats", data={"csrf_token": csrf_token(manager, "/team"), "seats": "2"}
    )
    assert answer.status_code == 303 and "seats-added" in answer.headers["Location"]
    sub = shop.emulator.store.objects[sub_id]
    assert shop.emulator.store.objects[sub["_items"][0]]["quantity"] == 8
    latest = shop.emulator.store.objects[sub["latest_invoice"]]
    assert latest["id"] != first_invoice and latest["billing_reason"] == "subscription_update"
    assert latest["status"] == "paid" and 0 < latest["amount_due"] <= 60000
    lines = latest["lines"]["data"]
    assert lines and all(line["parent"]["subscription_item_details"]["proration"] for line in lines)
    shop.settle()
    assert shop.site.run(lambda: db.session.get(Team, team_id).seats) == 8
    assert "1 of 8 seats used" in manager.get("/team").get_data(as_text=True)


def test_a_lapsed_card_team_is_told_it_cannot_add_seats(shop) -> None:  # type: ignore[no-untyped-def]
    team_id = staff_onboards(
        shop, name="Soylent", seats="3", manager_email="ceo@soylent.example", billing="card"
    )
    checkout = last_link(shop, "ceo@soylent.example", "/checkout/")
    manager = join(shop, "ceo@soylent.example")
    assert shop.stripe_pages.post(path(checkout), data=GOOD).status_code == 303
    shop.settle()
    sub_id = shop.site.run(lambda: db.session.get(Team, team_id).stripe_subscription_id)
    client = stripe.StripeClient(shop.emulator.api_key, base_addresses={"api": shop.emulator.url})
    # Canceled in Stripe before the webhook arrives: our mirror still says active, Stripe
    # refuses the change, and the manager is told so (not a 500).
    shop.emulator.point_at(None)
    client.v1.subscriptions.cancel(sub_id)
    token = csrf_token(manager, "/team")
    refused = manager.post("/team/seats", data={"csrf_token": token, "seats": "2"})
    assert refused.status_code == 409
    assert "Payments refused this change" in refused.get_data(as_text=True)
    # Once the mirror knows, the button says why before asking Stripe.
    shop.emulator.point_at(f"{shop.site.url}/webhooks/stripe")
    shop.site.run(lambda: (sync.sync_subscription(sub_id), db.session.commit()))
    refused = manager.post("/team/seats", data={"csrf_token": token, "seats": "2"})
    assert refused.status_code == 400
    assert "Soylent&#39;s subscription has ended, so seats cannot be added" in refused.get_data(
        as_text=True
    )
    assert (
        shop.emulator.store.objects[shop.emulator.store.objects[sub_id]["_items"][0]]["quantity"]
        == 3
    )
    assert shop.site.run(lambda: db.session.get(Team, team_id).seats) == 3
    assert ("stripe", "team.lapsed", {"status": "canceled"}) in team_log(shop, team_id)


def staff_on_team_page(shop, team_id: int):  # type: ignore[no-untyped-def]
    """A staff client on the team's page: (client, its path, a CSRF token, subscription id)."""
    staff = shop.app.test_client()
    sign_in(staff, "staff@example.com")
    home = f"/admin/teams/{team_id}"
    sub_id = shop.site.run(lambda: db.session.get(Team, team_id).stripe_subscription_id)
    return staff, home, csrf_token(staff, home), sub_id


def billed_quantity(shop, sub_id: str) -> int:  # type: ignore[no-untyped-def]
    objects = shop.emulator.store.objects
    return int(objects[objects[sub_id]["_items"][0]]["quantity"])


def test_seats_changed_4_6_4_6_end_at_6_in_stripe(shop) -> None:  # type: ignore[no-untyped-def]
    """Each change is its own request to Stripe: the second 4 -> 6 is not a replay of the
    first (whose idempotency key Stripe keeps for 24 hours)."""
    team_id = staff_onboards(
        shop, name="Vandelay", seats="4", manager_email="art@vandelay.example", billing="invoice"
    )
    staff, home, token, sub_id = staff_on_team_page(shop, team_id)
    for seats in (6, 4, 6):
        assert (
            staff.post(home + "/seats", data={"csrf_token": token, "seats": str(seats)}).status_code
            == 303
        )
    assert billed_quantity(shop, sub_id) == 6
    shop.settle()
    assert shop.site.run(lambda: db.session.get(Team, team_id).seats) == 6
    # (A webhook may land before the staff request commits: Stripe's entry then comes first.)
    changes = [(a, d) for who, a, d in team_log(shop, team_id)
               if a.startswith("team.seats") and who == "staff@example.com"]  # fmt: skip
    assert changes == [("team.seats_added", {"extra": 2, "seats": 6}),
                                 ("team.seats_set", {"seats": [6, 4]}),
                                 ("team.seats_added", {"extra": 2, "seats": 6})]  # fmt: skip


def test_an_invoice_team_adds_seats_with_a_prorated_invoice_sent(shop) -> None:  # type: ignore[no-untyped-def]
    team_id = staff_onboards(
        shop, name="Initech", seats="3", manager_email="pm@initech.example", billing="invoice"
    )
    manager = join(shop, "pm@initech.example")
    answer = manager.post(
        "/team/seats", data={"csrf_token": csrf_token(manager, "/team"), "seats": "2"}
    )
    assert answer.status_code == 303 and "seats-added" in answer.headers["Location"]
    team = shop.site.run(lambda: db.session.get(Team, team_id))
    assert team.seats == 5
    sub = shop.emulator.store.objects[team.stripe_subscription_id]
    assert shop.emulator.store.objects[sub["_items"][0]]["quantity"] == 5
    proration = shop.emulator.store.objects[sub["latest_invoice"]]
    assert proration["billing_reason"] == "subscription_update" and proration["status"] == "open"
    assert 0 < proration["amount_due"] <= 60000
    sent = [
        e
        for e in shop.emulator.events("invoice.sent")
        if e["data"]["object"]["id"] == proration["id"]
    ]
    assert sent
    portal = manager.post("/team/billing", data={"csrf_token": csrf_token(manager, "/team")})
    assert portal.status_code == 303 and "/portal/bps_" in portal.headers["Location"]
    # A day later (past Stripe's 24-hour idempotency window) the same configuration serves.
    shop.advance(days=2)
    again = manager.post("/team/billing", data={"csrf_token": csrf_token(manager, "/team")})
    assert again.status_code == 303
    configurations = list(shop.emulator.store.find("billing_portal.configuration"))
    assert len([c for c in configurations if c["metadata"].get("purpose")]) == 1


def test_staff_change_an_invoice_teams_seats_in_stripe(shop) -> None:  # type: ignore[no-untyped-def]
    team_id = staff_onboards(
        shop, name="Hooli", seats="4", manager_email="gb@hooli.example", billing="invoice"
    )
    staff, home, token, sub_id = staff_on_team_page(shop, team_id)
    first_invoice = shop.emulator.store.objects[sub_id]["latest_invoice"]

    # More seats: billed now, prorated, and the invoice sent (as when the manager adds them).
    assert staff.post(home + "/seats", data={"csrf_token": token, "seats": "6"}).status_code == 303
    proration = shop.emulator.store.objects[shop.emulator.store.objects[sub_id]["latest_invoice"]]
    assert billed_quantity(shop, sub_id) == 6 and proration["id"] != first_invoice
    assert proration["billing_reason"] == "subscription_update" and proration["status"] == "open"
    # Fewer: billed from the next renewal, so no new invoice now.
    assert staff.post(home + "/seats", data={"csrf_token": token, "seats": "5"}).status_code == 303
    assert billed_quantity(shop, sub_id) == 5
    assert shop.emulator.store.objects[sub_id]["latest_invoice"] == proration["id"]
    shop.settle()  # the invoices reach our mirror by webhook
    page = staff.get(home).get_data(as_text=True)
    assert "0 of 5 used" in page and "5 seats, period ends" in page and proration["id"] in page
    assert f"https://dashboard.stripe.com/test/subscriptions/{sub_id}" in page


def test_a_member_paying_for_themselves_is_offered_once_to_stop(shop) -> None:  # type: ignore[no-untyped-def]
    reader = shop.reader("twice@acme.example")
    shop.checkout(reader)  # their own trial
    shop.settle()
    staff_onboards(
        shop, name="Acme", seats="3", manager_email="boss@acme.example", billing="manual"
    )
    manager = join(shop, "boss@acme.example")
    manager.post(
        "/team/invites",
        data={"csrf_token": csrf_token(manager, "/team"), "emails": "twice@acme.example"},
    )
    link = path(last_link(shop, "twice@acme.example", "/team/join/"))
    token = re.search(
        r'name="csrf_token"[^>]*value="([^"]+)"', reader.get(link).get_data(as_text=True)
    ).group(1)  # type: ignore[union-attr]
    joined = reader.post(link, data={"csrf_token": token})
    assert joined.status_code == 303 and joined.headers["Location"].endswith("/team/welcome")
    offer = reader.get("/team/welcome").get_data(as_text=True)
    assert "End my own subscription at period end" in offer
    ended = reader.post(
        "/team/end-own-subscription", data={"csrf_token": csrf_token(reader, "/team/welcome")}
    )
    assert ended.status_code == 303
    sub_id = shop.subscription_id("twice@acme.example")
    assert shop.emulator.store.objects[sub_id]["cancel_at_period_end"] is True
    premium = shop.access("twice@acme.example")[0]
    assert premium  # the team seat (and the rest of their own period) keep access
    assert "End my own subscription" not in reader.get("/team/welcome").get_data(as_text=True)


def test_stripe_refusing_a_request_is_an_error_people_can_read(app) -> None:  # type: ignore[no-untyped-def]
    """Not a 500: an InvalidRequestError or IdempotencyError from Stripe becomes StripeRefused
    (a PaywallError, 409, with words for people)."""
    from paywall.billing import gateway
    from paywall.errors import PaywallError

    def refuse(error: Exception) -> None:
        raise error

    for error in (stripe.InvalidRequestError("No such subscription", "id", code="resource_missing"),
                  stripe.IdempotencyError("Keys for idempotent requests can only be used with the same parameters")):  # fmt: skip
        try:
            gateway.call(lambda: refuse(error), "testing")  # noqa: B023
        except gateway.StripeRefused as refused:
            assert isinstance(refused, PaywallError)
            assert refused.status == 409 and "nothing was charged" in refused.message
        else:
            raise AssertionError("not refused")


def test_stripe_billing_fewer_seats_than_in_use_keeps_the_members(shop) -> None:  # type: ignore[no-untyped-def]
    """Seats follow Stripe down too, but never below those in use (the CHECK constraint): the
    team is full until members leave, then the seats come down to what is billed."""
    team_id = staff_onboards(
        shop, name="Wonka", seats="3", manager_email="willy@wonka.example", billing="invoice"
    )
    manager = join(shop, "willy@wonka.example")
    token = csrf_token(manager, "/team")
    manager.post("/team/invites", data={"csrf_token": token, "emails": "oompa@wonka.example"})
    join(shop, "oompa@wonka.example")
    sub_id = shop.site.run(lambda: db.session.get(Team, team_id).stripe_subscription_id)
    client = stripe.StripeClient(shop.emulator.api_key, base_addresses={"api": shop.emulator.url})
    item = shop.emulator.store.objects[sub_id]["_items"][0]
    client.v1.subscription_items.update(item, {"quantity": 1, "proration_behavior": "none"})
    shop.settle()

    def seats() -> tuple[int, int]:
        team = shop.site.run(lambda: db.session.get(Team, team_id))
        return team.seats_used, team.seats

    assert seats() == (2, 2)
    page = manager.get("/team").get_data(as_text=True)
    member_id = re.search(r"/team/members/(\d+)/remove", page).group(1)  # type: ignore[union-attr]
    assert (
        manager.post(f"/team/members/{member_id}/remove", data={"csrf_token": token}).status_code
        == 303
    )
    assert seats() == (1, 1)
    billed = [d["seats"] for who, a, d in team_log(shop, team_id) if a == "team.seats_billed"]
    assert billed == [[3, 2], [2, 1]] and all(
        who == "stripe" for who, a, _ in team_log(shop, team_id) if a == "team.seats_billed"
    )


def test_a_card_team_reads_on_return_from_checkout_before_any_webhook(shop) -> None:  # type: ignore[no-untyped-def]
    memo = shop.site.run(lambda: make_item(kind="memo", body=SENTINEL).url_path())
    team_id = staff_onboards(
        shop, name="Initech", seats="3", manager_email="boss@initech.example", billing="card"
    )
    checkout = last_link(shop, "boss@initech.example", "/checkout/")
    manager = join(shop, "boss@initech.example")
    shop.emulator.point_at(None)  # no webhook arrives
    paid = shop.stripe_pages.post(path(checkout), data={**GOOD, "quantity": "5"})
    assert paid.status_code == 303 and "/teams/paid?session_id=cs_" in paid.headers["Location"]
    back = shop.app.test_client().get(path(paid.headers["Location"]))  # whoever paid: no sign-in
    assert back.status_code == 200
    assert "5 seats paid by card" in back.get_data(as_text=True)
    assert shop.site.run(lambda: db.session.get(Team, team_id).seats) == 5
    assert SENTINEL in manager.get(memo).get_data(as_text=True)
    for odd in ("cs_nope", "", "../customers", "cs_x/../"):
        assert shop.app.test_client().get(f"/teams/paid?session_id={odd}").status_code == 404


def test_an_expired_checkout_link_is_renewed_from_the_team_page_and_only_one_can_pay(shop) -> None:  # type: ignore[no-untyped-def]
    team_id = staff_onboards(
        shop, name="Hooli", seats="2", manager_email="gavin@hooli.example", billing="card"
    )
    first = last_link(shop, "gavin@hooli.example", "/checkout/")
    manager = join(shop, "gavin@hooli.example")
    shop.advance(days=2)  # Stripe's Checkout links last 24 hours; the invitation 14 days
    assert shop.stripe_pages.get(path(first)).status_code == 410
    token = csrf_token(manager, "/team")
    renewed = manager.post("/team/pay", data={"csrf_token": token})
    assert renewed.status_code == 303 and "/checkout/" in renewed.headers["Location"]
    second = renewed.headers["Location"]
    # Asked again (a second tab, a double click): the link before is expired, so one pays.
    third = manager.post("/team/pay", data={"csrf_token": token}).headers["Location"]
    assert shop.stripe_pages.get(path(second)).status_code == 410
    assert shop.stripe_pages.post(path(third), data=GOOD).status_code == 303
    shop.settle()
    team = shop.site.run(lambda: db.session.get(Team, team_id))
    assert team.stripe_subscription_id and team.checkout_url is None
    subscriptions = shop.emulator.store.find("subscription", customer=team.stripe_customer_id)
    assert len(list(subscriptions)) == 1
    assert ("gavin@hooli.example", "team.checkout_renewed", {}) in team_log(shop, team_id)
    # Paid: nothing left to pay, and the page says so rather than offering a link.
    assert "Pay by card" not in manager.get("/team").get_data(as_text=True)
    assert manager.post("/team/pay", data={"csrf_token": token}).status_code == 409


def test_a_sync_that_changes_nothing_writes_nothing_to_the_team(shop) -> None:  # type: ignore[no-untyped-def]
    """The webhook path: a team's subscription synced again as it was updates no team row
    and reads its mirror once (the upsert), not again for seats, status and access."""
    from sqlalchemy import event

    team_id = staff_onboards(
        shop, name="Vandelay", seats="4", manager_email="art@vandelay.example", billing="invoice"
    )
    shop.settle()
    sub_id = shop.site.run(lambda: db.session.get(Team, team_id).stripe_subscription_id)
    statements: list[str] = []

    def seen(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split()).lower())

    def again() -> None:
        event.listen(db.engine, "before_cursor_execute", seen)
        try:
            sync.sync_subscription(sub_id)
            db.session.commit()
        finally:
            event.remove(db.engine, "before_cursor_execute", seen)

    shop.site.run(again)
    assert not [s for s in statements if s.startswith("update teams")], statements
    reads = [s for s in statements if s.startswith("select") and "from subscriptions" in s]
    assert len(reads) == 1, reads
    assert shop.site.run(lambda: db.session.get(Team, team_id).seats) == 4
