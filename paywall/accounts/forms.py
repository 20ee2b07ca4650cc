"""Account forms: shapes and lengths here; the rules themselves live in the service."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, PasswordField, StringField
from wtforms.validators import InputRequired, Length, StopValidation

from paywall.accounts.emails import MAX_LENGTH as EMAIL_MAX
from paywall.accounts.passwords import MAX_LENGTH as PASSWORD_MAX
from paywall.errors import ValidationError


def email_field(label: str = "Email", id: str | None = None) -> StringField:
    return StringField(
        label,
        id=id,
        validators=[
            InputRequired("Enter your email address."),
            Length(max=EMAIL_MAX, message="This email address is too long."),
        ],
        render_kw={"autocomplete": "email", "type": "email", "maxlength": EMAIL_MAX},
    )


def password_field(
    label: str = "Password", autocomplete: str = "current-password"
) -> PasswordField:
    return PasswordField(
        label,
        validators=[
            InputRequired("Enter a password."),
            Length(max=PASSWORD_MAX, message=f"Use at most {PASSWORD_MAX} characters."),
        ],
        render_kw={"autocomplete": autocomplete},
    )


class BaseForm(FlaskForm):  # type: ignore[misc]
    def add_error(self, error: ValidationError) -> None:
        """Show a service's ValidationError on its field, or above the form."""
        field = getattr(self, error.field, None) if error.field else None
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, error.message]
        else:
            self.form_errors.append(error.message)


class WholeNumberField(IntegerField):  # type: ignore[misc]
    """An IntegerField that says one thing about "abc" ("Enter a whole number.") rather than
    that and every range check after it."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:  # IntegerField has set data to None
            raise ValueError("Enter a whole number.") from None

    def pre_validate(self, form: Any) -> None:
        if self.process_errors:
            raise StopValidation()


class SignupForm(BaseForm):
    email = email_field()
    password = password_field(autocomplete="new-password")
    next = HiddenField()


class SigninForm(BaseForm):
    email = email_field()
    password = password_field()
    remember = BooleanField("Keep me signed in")
    next = HiddenField()


class SigninLinkForm(BaseForm):
    email = email_field(id="link-email")  # shares the sign-in page: ids must differ
    next = HiddenField()


class CodeForm(BaseForm):
    email = email_field()
    code = StringField(
        "6-digit code",
        validators=[InputRequired("Enter the 6-digit code from the email."), Length(max=20)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": 7},
    )


class ForgotPasswordForm(BaseForm):
    email = email_field()


class ResetPasswordForm(BaseForm):
    password = password_field("New password", autocomplete="new-password")


class ConfirmForm(BaseForm):
    """A button: the link in a mail opens a page, and only pressing it spends the token."""


class ChangePasswordForm(BaseForm):
    current_password = password_field("Current password")
    password = password_field("New password", autocomplete="new-password")


class ChangeEmailForm(BaseForm):
    current_password = password_field("Current password")
    new_email = email_field("New email")
