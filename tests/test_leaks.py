"""No premium leaks: crawl the whole site as each kind of reader and look for a sentinel.

Every premium item carries a sentinel sentence in its body (and a report carries it inside its
PDF). Every URL the site links to, plus the feed, the sitemap, the API, search and print views,
is fetched as a visitor, a free reader and a lapsed member: the sentinel appears nowhere. A
member fetching the same URLs does see it, so the crawl is known to reach the premium text.

Mail too: premium industry issues carrying a sentinel are published and the weekly review is
sent to a population of every kind of reader, through a real SMTP server (aiosmtpd); the raw
DATA it receives carries the sentinel only to entitled members, and to each of them once per
mail they chose. A free list issue sent alongside carries none of it.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections import Counter, deque
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from aiosmtpd.controller import Controller
from flask.testing import FlaskClient
from sqlalchemy import select

from paywall import clock
from paywall.accounts.comp import end_comps, grant_comp
from paywall.accounts.models import User
from paywall.billing.models import Subscription as BillingSubscription
from paywall.content.kinds import INDUSTRIES, KINDS
from paywall.content.service import attach
from paywall.entitlements import refresh_access
from paywall.extensions import db
from paywall.mail import worker
from paywall.mail.models import Delivery
from paywall.newsletters import industries
from paywall.newsletters.models import ListSubscription
from paywall.teams.joining import join
from paywall.teams.models import Team, TeamMember
from paywall.teams.onboarding import Onboarding, create_team
from paywall.teams.service import remove as team_remove
from tests.helpers import make_item, make_member, make_user, sign_in
from tests.test_mail_smtp import free_port

SENTINEL = "Sentinel-LEAK-91x"
LINK = re.compile(r'(?:href|src)="([^"]+)"')
# Following these would sign the crawler out or leave the site.
SKIP = ("/signout", "/static/", "/dev/", "/admin/")


@pytest.fixture
def premium_site(app):  # type: ignore[no-untyped-def]
    """One premium item of every kind, a report with a PDF, and some free articles."""
    items = []
    for kind in KINDS:
        items.append(
            make_item(
                kind=kind,
                access="premium",
                title=f"Premium {kind}",
                body=f"Opening line.\n\n{SENTINEL} in the body of a {kind}.\n\n## More\n\n{SENTINEL}",
                **(
                    {"replay_url": "https://www.youtube.com/watch?v=Ab3dE5gH7jK"}
                    if kind == "live_qa"
                    else {}
                ),
            )
        )
    report = next(i for i in items if i.kind == "trend_report")
    attach(report, "figures.pdf", "application/pdf", b"%PDF-1.4\n" + SENTINEL.encode() + b"\n%%EOF")
    make_item(kind="article", access="public", title="A free article", body="Free words.")
    db.session.commit()
    return items


def crawl(client: FlaskClient, extra: list[str]) -> dict[str, str]:
    """Fetch every same-site page reachable from / (and the extra URLs): path -> body."""
    seen: dict[str, str] = {}
    queue = deque(["/", *extra])
    while queue and len(seen) < 500:
        path = queue.popleft()
        if path in seen:
            continue
        response = client.get(path)
        body = response.get_data(as_text=False).decode("utf-8", "replace")
        seen[path] = body
        if "html" not in (response.content_type or ""):
            continue
        for link in LINK.findall(body):
            target = urljoin(path, link.replace("&amp;", "&"))
            parts = urlsplit(target)
            if parts.netloc not in ("", "localhost", "127.0.0.1:5000"):
                continue
            local = parts.path + (f"?{parts.query}" if parts.query else "")
            if not local.startswith(SKIP) and local not in seen:
                queue.append(local)
    return seen


def extra_urls(items) -> list[str]:  # type: ignore[no-untyped-def]
    urls = ["/feed.xml", "/sitemap.xml", "/api/v1/items", "/api/v1/items?limit=100",
            "/search?q=Premium", "/search?q=Opening", "/this-does-not-exist",
            "/reports/trend-report-x/files/figures.pdf", "/industry/weekly"]  # fmt: skip
    for item in items:
        urls += [item.url_path(), item.url_path("/print"), f"/api/v1/items/{item.kind}/{item.slug}"]
        if item.kind == "trend_report":
            urls.append(item.url_path("/files/figures.pdf"))
        if item.kind in ("live_qa", "event"):
            urls.append(item.url_path("/calendar.ics"))
    return urls


def client_for(app, who: str) -> FlaskClient:  # type: ignore[no-untyped-def]
    client = app.test_client()
    if who == "free":
        sign_in(client, make_user().email)
    elif who in ("lapsed", "member"):
        user = make_member()
        if who == "lapsed":
            end_comps(user, staff=None)
            db.session.commit()
        sign_in(client, user.email)
    return client


@pytest.mark.parametrize("who", ["visitor", "free", "lapsed"])
def test_the_sentinel_reaches_no_one_without_access(app, premium_site, who) -> None:  # type: ignore[no-untyped-def]
    pages = crawl(client_for(app, who), extra_urls(premium_site))
    assert len(pages) > 40, sorted(pages)
    leaks = [path for path, body in pages.items() if SENTINEL in body]
    assert leaks == []
    # The crawl did reach every premium page (as a teaser).
    for item in premium_site:
        assert item.url_path() in pages


def test_a_member_crawling_the_same_urls_sees_the_sentinel(app, premium_site) -> None:  # type: ignore[no-untyped-def]
    pages = crawl(client_for(app, "member"), extra_urls(premium_site))
    for item in premium_site:
        assert SENTINEL in pages[item.url_path()], item.kind
        assert SENTINEL in pages[item.url_path("/print")]
        assert SENTINEL in pages[f"/api/v1/items/{item.kind}/{item.slug}"]
    report = next(i for i in premium_site if i.kind == "trend_report")
    assert SENTINEL in pages[report.url_path("/files/figures.pdf")]
    # Feeds, sitemaps and search never carry premium bodies, even for members.
    for path in ("/feed.xml", "/sitemap.xml", "/search?q=Opening"):
        assert SENTINEL not in pages[path]
    assert "0 results" in pages["/search?q=Opening"], "search never looks inside bodies"


# --- mail ----------------------------------------------------------------------------------

MAIL_SENTINEL = "Sentinel-MAIL-"  # + the industry: which issue leaked, if one did
ISSUE_INDUSTRIES = ("banking", "oil-gas")


class MailDrop:
    """An aiosmtpd handler keeping each accepted message as the bytes received, per envelope
    recipient (the address it really went to, whatever its To says)."""

    def __init__(self) -> None:
        self.mails: list[tuple[str, bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails += [(rcpt.lower(), envelope.content) for rcpt in envelope.rcpt_tos]
        return "250 OK"

    def take(self) -> list[tuple[str, bytes]]:
        taken, self.mails = self.mails, []
        return taken


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def app_config(smtp_port: int) -> dict[str, Any]:
    return {"MAIL_URL": f"smtp://127.0.0.1:{smtp_port}"}


@pytest.fixture
def mail_drop(smtp_port: int) -> Iterator[MailDrop]:
    handler = MailDrop()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    yield handler
    controller.stop()


def readable(raw: bytes) -> str:
    """All a mail client could show from these bytes: the raw DATA with quoted-printable soft
    line breaks joined, and every part decoded, so no transfer encoding can hide a leak."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    parts = [p.get_payload(decode=True) for p in message.walk() if not p.is_multipart()]
    return b"\n".join([raw.replace(b"=\r\n", b""), *filter(None, parts)]).decode("utf-8", "replace")


def sentinels_in(raw: bytes) -> set[str]:
    """The industries whose issue sentinel this mail carries."""
    return set(re.findall(re.escape(MAIL_SENTINEL) + r"([a-z-]+?)-end", readable(raw)))


def choose(user: User, chosen: list[str], delivery: str) -> User:
    industries.save(user, chosen, delivery)
    db.session.commit()
    return user


def subscriber(email_address: str, status: str, **fields: Any) -> User:
    """A reader whose own Stripe subscription (as mirrored) is in this status."""
    user = make_user(email=email_address)
    db.session.add(BillingSubscription(
        stripe_subscription_id=f"sub_{user.id}", stripe_customer_id=f"cus_{user.id}",
        user_id=user.id, plan="pro_annual", status=status, **fields,
    ))  # fmt: skip
    db.session.flush()
    refresh_access(user)
    db.session.commit()
    return user


def comp_that_ran_out(email_address: str, monkeypatch: pytest.MonkeyPatch) -> User:
    """A comp granted two days ago until yesterday: the stored decision still says premium
    (nothing recomputed it since), only its end date says it is over."""
    user = make_user(email=email_address)
    real_now, then = clock.now, clock.now() - timedelta(days=2)
    monkeypatch.setattr(clock, "now", lambda: then)
    grant_comp(user.email, until=real_now() - timedelta(days=1), reason="ran out", staff=None)
    monkeypatch.setattr(clock, "now", real_now)
    db.session.commit()
    assert user.access_premium and user.access_until < clock.now()
    return user


def team_of(manager_email: str, member_emails: list[str]) -> tuple[Team, User, list[User]]:
    """A manual team, its manager and members seated."""
    team = create_team(Onboarding(name="Acme Freight", seats=5, manager_email=manager_email,
                                  billing="manual"), staff=None)  # fmt: skip
    manager = make_user(email=manager_email)
    join(team, manager, role="manager")
    members = [make_user(email=address) for address in member_emails]
    for member in members:
        join(team, member)
    db.session.commit()
    return team, manager, members


def removed_from(team: Team, manager: User, member: User) -> None:
    seat = db.session.scalar(
        select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == member.id)
    )
    team_remove(team, seat.id, manager)
    db.session.commit()


def confirmed_on(list_slug: str, *addresses: str) -> None:
    for address in addresses:
        db.session.add(ListSubscription(email=address, list_slug=list_slug, status="confirmed",
                                        confirmed_at=clock.now()))  # fmt: skip
    db.session.commit()


@pytest.fixture
def readers(app, monkeypatch):  # type: ignore[no-untyped-def]
    """Every kind of reader, with their industry choices; returns the entitled ones as
    {email: (industries in order, delivery)} and the rest as a set of addresses."""
    entitled: dict[str, tuple[list[str], str]] = {}

    def member(
        address: str, chosen: list[str] | None, delivery: str, user: User | None = None
    ) -> None:
        user = user or make_member(email=address)
        if chosen is not None:
            choose(user, chosen, delivery)
        entitled[address] = (chosen if chosen is not None else list(INDUSTRIES), delivery)

    member("comp.each@example.com", ["oil-gas", "banking"], "each")
    member("sub.both@example.com", ["banking", "oil-gas"], "both",
           subscriber("sub.both@example.com", "active",
                      current_period_end=clock.now() + timedelta(days=300)))  # fmt: skip
    trialing = subscriber("trial.both@example.com", "trialing",
                          current_period_end=clock.now() + timedelta(days=6))  # fmt: skip
    assert trialing.access_source == "trial"
    member("trial.both@example.com", ["banking", "green-energy"], "both", trialing)
    member("weekly@example.com", ["green-energy", "oil-gas", "banking"], "weekly")
    member("default@example.com", None, "weekly")  # never chose: all nine, the review
    member("none@example.com", ["banking"], "none")
    member("elsewhere@example.com", ["real-estate"], "both")  # nothing published there
    member("staff@example.com", None, "weekly", make_user(email="staff@example.com", role="admin"))
    team, manager, (seated, removed) = team_of(
        "boss@acme.example", ["seated@acme.example", "removed@acme.example"]
    )
    member("boss@acme.example", None, "weekly", manager)
    member("seated@acme.example", ["oil-gas"], "each", seated)

    not_entitled = {
        "visitor@example.com", "visitor2@example.com", "free.each@example.com",
        "free.both@example.com", "lapsed.sub@example.com", "comp.ended@example.com",
        "comp.ran.out@example.com", "removed@acme.example", "disabled@example.com",
        "lapses.midway@example.com", "free.default@example.com",
    }  # fmt: skip
    confirmed_on("gulf", "visitor@example.com", "free.each@example.com", "comp.each@example.com")
    confirmed_on("takeaway", "visitor2@example.com")
    choose(make_user(email="free.each@example.com"), ["banking", "oil-gas"], "each")
    choose(make_user(email="free.both@example.com"), ["oil-gas"], "both")
    make_user(email="free.default@example.com")  # never chose: all nine, the review
    lapsed = subscriber("lapsed.sub@example.com", "canceled", ended_at=clock.now(),
                        current_period_end=clock.now() - timedelta(days=1))  # fmt: skip
    choose(lapsed, ["banking", "oil-gas"], "both")
    comp_ended = choose(make_member(email="comp.ended@example.com"), ["banking"], "both")
    end_comps(comp_ended, staff=None)
    choose(comp_that_ran_out("comp.ran.out@example.com", monkeypatch), ["oil-gas"], "both")
    removed_from(team, manager, removed)
    choose(removed, ["banking", "oil-gas"], "both")
    choose(make_member(email="disabled@example.com", disabled=True), ["oil-gas"], "both")
    choose(make_member(email="lapses.midway@example.com"), ["banking", "oil-gas"], "both")
    db.session.commit()
    return entitled, not_entitled


def publish_sentinel_issues() -> None:
    for industry in ISSUE_INDUSTRIES:
        make_item(kind="industry_newsletter", industry=industry, access="premium",
                  title=f"The {industry} issue", teaser=f"What {industry} watches this week.",
                  body=f"Opening.\n\n{MAIL_SENTINEL}{industry}-end in the body.\n\n"
                       f"## More\n\n{MAIL_SENTINEL}{industry}-end again.",
                  published_at=clock.now().isoformat())  # fmt: skip


def carried(mails: list[tuple[str, bytes]]) -> dict[str, Counter[str]]:
    """Per recipient: for each issue, how many of their mails carried its sentinel."""
    found: dict[str, Counter[str]] = {}
    for to, raw in mails:
        found.setdefault(to, Counter()).update(sentinels_in(raw))
    return {to: counts for to, counts in found.items() if counts}


def assert_no_leak(mails: list[tuple[str, bytes]], entitled: dict[str, Any]) -> None:
    """No mail that carries a sentinel went to an address outside the entitled members."""
    leaked = {to for to, raw in mails if MAIL_SENTINEL in readable(raw)} - set(entitled)
    assert sorted(leaked) == []


def test_premium_issues_and_the_review_carry_the_sentinel_only_to_entitled_members(
    app, mail_drop, readers, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    entitled, not_entitled = readers
    assert not_entitled.isdisjoint(entitled)
    publish_sentinel_issues()
    worker.run_pending()  # the fan-out: deliveries made, the sends queued
    midway = db.session.scalar(select(User).where(User.email == "lapses.midway@example.com"))
    end_comps(midway, staff=None)  # access ends between the fan-out and the send
    db.session.commit()
    worker.drain()
    issues = mail_drop.take()
    assert_no_leak(issues, entitled)
    # Each entitled member who chose an issue by mail got it once: no more, no fewer.
    expected = {
        address: Counter(s for s in chosen if s in ISSUE_INDUSTRIES)
        for address, (chosen, delivery) in entitled.items()
        if delivery in ("each", "both") and set(chosen) & set(ISSUE_INDUSTRIES)
    }
    assert carried(issues) == expected
    # The one who lapsed midway was in the fan-out: it is the send that left them out.
    skipped = db.session.scalars(select(Delivery.status).where(Delivery.email == midway.email))
    assert sorted(skipped) == ["skipped", "skipped"]

    review = app.test_cli_runner().invoke(args=["newsletters", "weekly-review", "--now"])
    assert review.exit_code == 0, review.output
    worker.drain()
    reviews = mail_drop.take()
    assert_no_leak(reviews, entitled)
    # The review has the member's first industry with an issue in full, the rest as teasers.
    expected = {}
    for address, (chosen, delivery) in entitled.items():
        first = next((s for s in chosen if s in ISSUE_INDUSTRIES), None)
        if delivery in ("weekly", "both") and first:
            expected[address] = Counter([first])
    assert carried(reviews) == expected
    assert {to for to, _ in reviews} == set(expected)

    issue = tmp_path / "issue.md"
    issue.write_text("# This week in the Gulf\n\nFree words for every subscriber.\n")
    sent = app.test_cli_runner().invoke(
        args=["newsletters", "send", "gulf", str(issue), "--subject", "The Gulf this week"]
    )
    assert sent.exit_code == 0, sent.output
    worker.drain()
    free = mail_drop.take()
    assert sorted(to for to, _ in free) == [
        "comp.each@example.com", "free.each@example.com", "visitor@example.com"
    ]  # fmt: skip
    assert all(MAIL_SENTINEL not in readable(raw) for _, raw in free)
    assert all("Free words for every subscriber." in readable(raw) for _, raw in free)
