"""Users, sign-up, sign-in (password, link, code), sign-out, password reset, email verification."""
