"""Account pages: parse the form, call one service function, commit, respond."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_login import current_user, fresh_login_required, login_required
from werkzeug.wrappers import Response

from paywall.accounts import forms, limits, service
from paywall.accounts.session import end_session, restart_session, start_session
from paywall.entitlements import label
from paywall.errors import TokenInvalid, ValidationError
from paywall.extensions import db
from paywall.web import safe_next

bp = Blueprint("accounts", __name__)
# "PRO (free trial)": each kind of grant names itself where it is registered.
bp.add_app_template_global(label, "grant_label")

Page = Response | str | tuple[str, int]


def _invalid(template: str, form: forms.BaseForm, error: ValidationError | None = None) -> Page:
    """The same form again, with the field's error, as a 400."""
    db.session.rollback()
    if error is not None:
        form.add_error(error)
    return render_template(template, form=form), 400


def _check_inbox(email: str, signing_up: bool = False) -> Page:
    """After a sign-up the link confirms the address (it lasts VERIFY_EMAIL_HOURS); after a
    sign-in request it signs in (SIGNIN_LINK_MINUTES, like the code)."""
    form = forms.CodeForm(email=email)
    return render_template("accounts/check_inbox.html", form=form, signing_up=signing_up)


@bp.route("/signup", methods=["GET", "POST"])
@limits.signup_per_ip
@limits.mail_per_address
def signup() -> Page:
    form = forms.SignupForm(next=request.args.get("next", ""))
    if request.method == "GET":
        return render_template("accounts/signup.html", form=form)
    if not form.validate():
        return _invalid("accounts/signup.html", form)
    try:
        service.request_signup(form.email.data, form.password.data, safe_next(form.next.data))
    except ValidationError as error:
        return _invalid("accounts/signup.html", form, error)
    db.session.commit()
    return _check_inbox(form.email.data, signing_up=True)


@bp.route("/signin", methods=["GET", "POST"])
@limits.signin_per_account
@limits.signin_per_device
@limits.signin_per_ip
def signin() -> Page:
    form = forms.SigninForm(next=request.args.get("next", ""))
    if request.method == "GET":
        link_form = forms.SigninLinkForm(next=form.next.data)
        return render_template("accounts/signin.html", form=form, link_form=link_form)
    if not form.validate():
        return _invalid("accounts/signin.html", form)
    try:
        user = service.authenticate(form.email.data, form.password.data)
    except ValidationError as error:
        return _invalid("accounts/signin.html", form, error)
    service.record_signin(user, "password")
    db.session.commit()
    start_session(user, remember=bool(form.remember.data))
    return redirect(safe_next(form.next.data), code=303)


@bp.app_context_processor
def _signin_link_offer() -> dict[str, object]:
    return {"signin_link_offer": signin_link_offer}


def signin_link_offer() -> forms.SigninLinkForm | None:
    """For the 429 page of a throttled password sign-in: the form that mails a link and a
    code instead, which have limits of their own (so the owner is never shut out)."""
    if request.endpoint != "accounts.signin" or request.method != "POST":
        return None
    return forms.SigninLinkForm()


@bp.post("/signin/link")
@limits.signin_link_per_ip
@limits.mail_per_address
def signin_link() -> Page:
    form = forms.SigninLinkForm()
    if not form.validate():
        return _invalid("accounts/signin_link.html", form)
    try:
        service.request_signin_link(form.email.data, safe_next(form.next.data))
    except ValidationError as error:
        return _invalid("accounts/signin_link.html", form, error)
    db.session.commit()
    return _check_inbox(form.email.data)


@bp.route("/signin/link/<token>", methods=["GET", "POST"])
def signin_link_confirm(token: str) -> Page:
    form = forms.ConfirmForm()
    if request.method == "GET":
        user = service.peek_token(token, service.SIGNIN_PURPOSES)
        return render_template(
            "accounts/confirm.html", form=form, email=user.email, action="Sign in", title="Sign in"
        )
    if not form.validate():
        raise TokenInvalid("This form has expired. Open the link from the email again.")
    signed_in = service.signin_with_link(token)
    db.session.commit()
    start_session(signed_in.user)
    return redirect(safe_next(signed_in.next_path), code=303)


@bp.post("/signin/code")
@limits.code_per_account
@limits.code_per_ip
def signin_code() -> Page:
    form = forms.CodeForm()
    if not form.validate():
        return _invalid("accounts/check_inbox.html", form)
    try:
        signed_in = service.signin_with_code(
            form.email.data, form.code.data, current_app.config["CODE_MAX_ATTEMPTS"]
        )
    except ValidationError as error:
        db.session.commit()  # keep the counted wrong guess
        form.add_error(error)
        return render_template("accounts/check_inbox.html", form=form), 400
    db.session.commit()
    start_session(signed_in.user)
    return redirect(safe_next(signed_in.next_path), code=303)


@bp.post("/signout")
def signout() -> Response:
    form = forms.ConfirmForm()
    if form.validate() and current_user.is_authenticated:
        service.end_all_sessions(current_user)
        db.session.commit()
    end_session()
    return redirect(url_for("content.home"), code=303)


@bp.route("/password/forgot", methods=["GET", "POST"])
@limits.mail_per_address
def forgot_password() -> Page:
    form = forms.ForgotPasswordForm()
    if request.method == "GET":
        return render_template("accounts/forgot.html", form=form)
    if not form.validate():
        return _invalid("accounts/forgot.html", form)
    try:
        service.request_password_reset(form.email.data)
    except ValidationError as error:
        return _invalid("accounts/forgot.html", form, error)
    db.session.commit()
    return render_template("accounts/forgot_sent.html")


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> Page:
    form = forms.ResetPasswordForm()
    service.peek_token(token, ("reset",))
    if request.method == "GET":
        return render_template("accounts/reset.html", form=form)
    if not form.validate():
        return _invalid("accounts/reset.html", form)
    try:
        user = service.reset_password(token, form.password.data)
    except ValidationError as error:
        return _invalid("accounts/reset.html", form, error)
    db.session.commit()
    start_session(user)
    return redirect(url_for("accounts.account"), code=303)


@bp.route("/verify/<token>", methods=["GET", "POST"])
def verify(token: str) -> Page:
    form = forms.ConfirmForm()
    if request.method == "GET":
        user = service.peek_token(token, ("verify", "email_change"))
        return render_template(
            "accounts/confirm.html",
            form=form,
            email=user.email,
            action="Confirm my email",
            title="Confirm your email",
        )
    if not form.validate():
        raise TokenInvalid("This form has expired. Open the link from the email again.")
    signed_in = service.confirm_email_token(token)
    db.session.commit()
    start_session(signed_in.user)
    return redirect(safe_next(signed_in.next_path), code=303)


def _account_page(status: int = 200, **forms_given: forms.BaseForm) -> Page:
    page_forms = {
        "password_form": forms.ChangePasswordForm(),
        "email_form": forms.ChangeEmailForm(),
        "resend_form": forms.ConfirmForm(),
        **forms_given,
    }
    notice = request.args.get("notice")
    return render_template("accounts/account.html", notice=notice, **page_forms), status


@bp.get("/account")
@login_required
def account() -> Page:
    return _account_page()


@bp.post("/account/password")
@fresh_login_required
def change_password() -> Page:
    form = forms.ChangePasswordForm()
    try:
        if not form.validate():
            raise ValidationError("Check the fields below.")
        service.change_password(current_user, form.current_password.data, form.password.data)
    except ValidationError as error:
        db.session.rollback()
        form.add_error(error)
        return _account_page(400, password_form=form)
    db.session.commit()
    restart_session(current_user._get_current_object())
    return redirect(url_for("accounts.account", notice="password-changed"), code=303)


@bp.post("/account/email")
@fresh_login_required
@limits.mail_per_user
def change_email() -> Page:
    form = forms.ChangeEmailForm()
    try:
        if not form.validate():
            raise ValidationError("Check the fields below.")
        service.request_email_change(current_user, form.current_password.data, form.new_email.data)
    except ValidationError as error:
        db.session.rollback()
        form.add_error(error)
        return _account_page(400, email_form=form)
    db.session.commit()
    return redirect(url_for("accounts.account", notice="email-change-sent"), code=303)


@bp.post("/account/verify")
@login_required
@limits.mail_per_user
def resend_verification() -> Response:
    if forms.ConfirmForm().validate():
        service.resend_verification(current_user)
        db.session.commit()
    return redirect(url_for("accounts.account", notice="verification-sent"), code=303)
