"""Billing routes: checkout, the way back from it, the portal, and the Stripe webhook."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from paywall.billing import service, webhooks
from paywall.billing.account import summary
from paywall.billing.plans import dashboard_url, plans
from paywall.extensions import csrf, db

bp = Blueprint("billing", __name__)

Page = Response | str | tuple[str, int]


@bp.route("/billing/checkout", methods=["GET", "POST"])
@login_required
def checkout() -> Page:
    """GET (where sign-in sends a visitor back) shows one button; POST goes to Stripe."""
    plan = request.values.get("plan", "pro_annual")
    if current_user.access.premium:
        return redirect(url_for("accounts.account"), code=303)
    if request.method == "GET":
        found = plans().get(plan)
        if found is None or not found.self_serve:
            abort(404)
        return render_template("billing/continue.html", plan=found, form=FlaskForm())
    url = service.start_checkout(current_user, plan)  # a bad plan: ValidationError, a 400 page
    db.session.commit()
    return redirect(url, code=303)


@bp.get("/billing/success")
@login_required
def success() -> Page:
    row = service.finish_checkout(current_user, request.args.get("session_id", ""))
    db.session.commit()
    return render_template("billing/success.html", subscription=row)


@bp.post("/billing/portal")
@login_required
def portal() -> Response:
    url = service.portal_url(current_user)
    db.session.commit()
    return redirect(url, code=303)


@bp.post("/webhooks/stripe")
@csrf.exempt  # Stripe signs its deliveries; the signature is the credential
def stripe_webhook() -> tuple[str, int]:
    if (request.content_length or 0) > current_app.config["MAX_CONTENT_LENGTH"]:
        abort(413)
    try:
        outcome = webhooks.receive(request.get_data(), request.headers.get("Stripe-Signature"))
    except webhooks.Rejected:
        return "rejected: not a valid Stripe delivery", 400
    except Exception:  # recorded on the stored event; Stripe will deliver it again
        return "failed; will be retried", 500
    return outcome, 200


bp.add_app_template_global(dashboard_url)


@bp.app_template_global()
def billing_of(user: object) -> dict[str, object] | None:
    """The account page's billing section: the latest subscription and the invoices."""
    return summary(user)
