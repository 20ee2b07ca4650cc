"""Public pages: the home page and the PRO offer."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

bp = Blueprint("content", __name__)


@bp.get("/")
def home() -> str:
    return render_template("content/home.html")


@bp.get("/pro")
def pro() -> str:
    payments_ready = bool(current_app.config.get("STRIPE_SECRET_KEY"))
    return render_template("content/pro.html", payments_ready=payments_ready)
