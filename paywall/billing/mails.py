"""Billing mail, through the outbox (sent by the worker)."""

from __future__ import annotations

from datetime import datetime

from flask import current_app

from paywall.accounts.models import User
from paywall.billing.models import Invoice, Subscription
from paywall.billing.plans import plan
from paywall.mail.outbox import queue_mail


def _day(moment: datetime | None) -> str:
    return moment.strftime("%-d %B %Y") if moment else ""


def _account() -> str:
    return f"{current_app.config['BASE_URL']}/account#billing"


def _price(row: Subscription) -> str:
    found = plan(row.plan)
    return found.price_text if found else ""


def trial_started(user: User, row: Subscription) -> None:
    queue_mail(
        user.email,
        "billing_trial_started",
        subject="Your free week of PRO has started",
        trial_end=_day(row.trial_end),
        price=_price(row),
        account=_account(),
    )


def trial_ending(user: User, row: Subscription) -> None:
    queue_mail(
        user.email,
        "billing_trial_ending",
        subject="Your PRO trial ends soon",
        trial_end=_day(row.trial_end),
        price=_price(row),
        account=_account(),
    )


def payment_failed(user: User, invoice: Invoice) -> None:
    queue_mail(
        user.email,
        "billing_payment_failed",
        subject="Your PRO payment failed",
        amount=f"${invoice.total / 100:,.2f}",
        account=_account(),
        grace_days=current_app.config["PAST_DUE_GRACE_DAYS"],
    )


def membership_ended(user: User, row: Subscription) -> None:
    queue_mail(
        user.email,
        "billing_ended",
        subject="Your PRO membership has ended",
        ended=_day(row.ended_at),
        pro=f"{current_app.config['BASE_URL']}/pro",
    )


def receipt(user: User, invoice: Invoice) -> None:
    queue_mail(
        user.email,
        "billing_receipt",
        subject=f"Receipt for your PRO payment ({invoice.number})",
        amount=f"${invoice.amount_paid / 100:,.2f}",
        number=invoice.number or "",
        url=invoice.hosted_invoice_url or _account(),
    )


def card_already_used(user: User) -> None:
    queue_mail(
        user.email, "billing_trial_refused", subject="About your PRO trial", account=_account()
    )
