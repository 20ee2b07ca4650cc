"""Billing mail, through the outbox (sent by the worker)."""

from __future__ import annotations

from flask import current_app

from paywall.accounts.models import User
from paywall.billing.models import Invoice, Subscription
from paywall.billing.plans import day, money, plan
from paywall.billing.trials import Refusal
from paywall.mail.outbox import absolute_url, queue_mail


def _account() -> str:
    return f"{current_app.config['BASE_URL']}/account#billing"


def _trial_mail(user: User, row: Subscription, template: str, subject: str) -> None:
    found = plan(row.plan)
    queue_mail(
        user.email,
        template,
        subject=subject,
        trial_end=day(row.trial_end),
        price=found.price_text if found else "",
        account=_account(),
        industries=absolute_url("newsletters.account_industries"),
    )


def trial_started(user: User, row: Subscription) -> None:
    _trial_mail(user, row, "billing_trial_started", "Your free week of PRO has started")


def trial_ending(user: User, row: Subscription) -> None:
    _trial_mail(user, row, "billing_trial_ending", "Your PRO trial ends soon")


def payment_failed(user: User, invoice: Invoice) -> None:
    queue_mail(
        user.email,
        "billing_payment_failed",
        subject="Your PRO payment failed",
        amount=money(invoice.total),
        account=_account(),
        grace_days=current_app.config["PAST_DUE_GRACE_DAYS"],
    )


def confirm_payment(user: User, invoice: Invoice) -> None:
    """Their bank wants them to confirm a payment (3-D Secure), on Stripe's invoice page."""
    queue_mail(
        user.email,
        "billing_confirm_payment",
        subject="Confirm your PRO payment",
        amount=money(invoice.total),
        url=invoice.hosted_invoice_url or _account(),
        grace_days=current_app.config["PAST_DUE_GRACE_DAYS"],
    )


def membership_ended(user: User, row: Subscription) -> None:
    queue_mail(
        user.email,
        "billing_ended",
        subject="Your PRO membership has ended",
        ended=day(row.ended_at),
        pro=f"{current_app.config['BASE_URL']}/pro",
    )


def receipt(user: User, invoice: Invoice) -> None:
    queue_mail(
        user.email,
        "billing_receipt",
        subject=f"Receipt for your PRO payment ({invoice.number})",
        amount=money(invoice.amount_paid),
        number=invoice.number or "",
        url=invoice.hosted_invoice_url or _account(),
    )


def trial_refused(user: User, reason: Refusal) -> None:
    """The trial was ended at once: its address ("email") or its card ("card") had one."""
    queue_mail(
        user.email,
        "billing_trial_refused",
        subject="About your PRO trial",
        reason=reason,
        account=_account(),
    )
