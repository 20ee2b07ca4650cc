"""The /teams request form, and the check that keeps its one-line fields on one line."""

from __future__ import annotations

from typing import Any

from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, StopValidation

from paywall.accounts.forms import BaseForm, WholeNumberField, email_field
from paywall.mail.headers import is_one_line
from paywall.teams.models import MAX_SEATS


class OneLine:
    """Refuses a line break or a control character, as a field error.

    These values go into mail subjects and headers (the staff's "Team plan request: <name>"),
    where a line break could never be sent. Refused rather than quietly cleaned: a browser's
    one-line input cannot hold a line break at all, so only a crafted request sends one, and
    whatever we stored would differ from what was typed.
    """

    def __init__(self, message: str = "Keep this to one line of plain text.") -> None:
        self.message = message

    def __call__(self, form: Any, field: Any) -> None:
        if field.data and not is_one_line(field.data):
            raise StopValidation(self.message)


class RequestForm(BaseForm):
    """The field names are CONTRACT.md's: a publisher's own page may post to /teams."""

    organization = StringField(
        "Organisation",
        validators=[InputRequired("Name your organisation."), Length(max=200), OneLine()],
    )
    name = StringField(
        "Your name",
        validators=[InputRequired("Tell us your name."), Length(max=120), OneLine()],
    )
    email = email_field("Work email")  # the address check refuses line breaks already
    seats = WholeNumberField(
        "Seats wanted",
        validators=[
            InputRequired("How many seats?"),
            NumberRange(1, MAX_SEATS, "Between 1 and 10,000."),
        ],
    )
    message = TextAreaField(  # the mail's body, where lines belong
        "Message (optional)",
        validators=[Length(max=2000, message="Keep it under 2,000 characters.")],
    )
