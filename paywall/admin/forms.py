"""Staff forms: shapes and lengths; the rules live in the services they feed."""

from __future__ import annotations

from typing import Any

from flask_wtf.file import FileField
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from paywall.accounts.forms import BaseForm, email_field
from paywall.content.kinds import ACCESS_LEVELS, INDUSTRIES, KINDS


def _text(label: str, limit: int, **kw: Any) -> StringField:
    return StringField(label, validators=[Optional(), Length(max=limit)], **kw)


class ContentForm(BaseForm):
    kind = SelectField("Kind", choices=[SelectChoice(k, v.label) for k, v in KINDS.items()])
    slug = _text("Slug (in the address)", 120)
    title = _text("Title", 300)
    access = SelectField(
        "Who may read it", choices=[SelectChoice(a, a.title()) for a in ACCESS_LEVELS]
    )
    author = _text("Author", 120)
    industry = SelectField(
        "Industry (industry newsletters only)",
        choices=[SelectChoice("", "—"), *(SelectChoice(k, v) for k, v in INDUSTRIES.items())],
        validators=[Optional()],
    )
    teaser = TextAreaField("Teaser (everyone sees it)", validators=[Length(max=1000)])
    body_markdown = TextAreaField("Body (Markdown; members only)", validators=[Length(max=200_000)])
    published_at = _text("Publish at (UTC, e.g. 2026-12-01T08:00)", 40)
    starts_at = _text("Starts at (UTC; live Q&A and events)", 40)
    duration_minutes = _text("Duration in minutes", 6)
    place = _text("Place", 300)
    stream_url = _text("Stream address (members only)", 500)
    replay_url = _text("Replay address (members only)", 500)
    capacity = _text("Capacity (events)", 6)
    pdf = FileField("PDF (trend reports)")

    def fields_for_service(self, status: str) -> dict[str, Any]:
        """The values content.service.check_fields expects; empty optional ones left out."""
        names = ("kind", "slug", "title", "access", "author", "industry", "teaser",
                 "body_markdown", "published_at", "starts_at", "duration_minutes", "place",
                 "stream_url", "replay_url", "capacity")  # fmt: skip
        fields = {name: (getattr(self, name).data or "").strip() for name in names}
        fields = {k: v for k, v in fields.items() if v or k in ("slug", "title", "teaser")}
        for name in ("published_at", "starts_at"):
            if name in fields and len(fields[name]) == 16:  # datetime-local gives no seconds
                fields[name] += ":00"
            if name in fields and not fields[name].endswith(("Z", "+00:00")):
                fields[name] += "Z"  # staff enter UTC, as the label says
        return {**fields, "status": status}


class CompForm(BaseForm):
    email = email_field("Member's email")
    until = DateField("Until (inclusive; empty for no end)", validators=[Optional()])
    reason = StringField(
        "Reason", validators=[InputRequired("Say why."), Length(max=300, message="Keep it short.")]
    )


class EndCompForm(BaseForm):
    email = email_field("Member's email")
