"""Email addresses as accounts store them: one canonical spelling, used for every comparison.

Look-alike spellings of one mailbox (`READER@example.com`, `reader@EXAMPLE.com`, full-width
letters such as U+FF45 for `e`, mathematical bold ones such as U+1D41E) must be one account,
one trial, one newsletter subscriber and one rate-limit key, or a limit per address is a
limit per spelling. So every place that compares, stores or counts addresses goes through
`canonical_address`.
"""

from __future__ import annotations

import unicodedata

import idna
from email_validator import EmailNotValidError, validate_email

from paywall.errors import ValidationError

MAX_LENGTH = 254  # RFC 5321's limit on a forward path


def canonical_address(raw: str | None) -> str:
    """The canonical spelling of an address, valid or not; the one definition of it.

    Unicode NFKC (full-width and mathematical letters become plain ones, a full-width at sign
    becomes `@`),
    then the part before the last `@` case-folded (str.casefold, so `Straße` is `strasse`) and
    the domain in IDNA ASCII form (`bücher.de` is `xn--bcher-kva.de`). The domain is folded by
    IDNA's own mapping (UTS 46), not by str.casefold, which would turn the registrable domain
    `straße.de` into the different domain `strasse.de`. A domain IDNA refuses is case-folded
    instead, so even input that never validates folds to one key.
    """
    text = unicodedata.normalize("NFKC", (raw or "").strip())
    local, at, domain = text.rpartition("@")
    if not at:
        return _fold(text)
    return f"{_fold(local)}@{canonical_domain(domain)}"


def _fold(text: str) -> str:
    # NFKC again after casefold: folding can leave a string that is not NFKC-normal.
    return unicodedata.normalize("NFKC", text.casefold())


def canonical_domain(domain: str) -> str:
    """A domain as canonical addresses hold it: IDNA ASCII, or case-folded when IDNA refuses
    it. A leading `@` (as in a typed list of domains, "@acme.com") is dropped."""
    text = unicodedata.normalize("NFKC", domain).strip().removeprefix("@")
    try:
        return idna.encode(text, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return _fold(text)


def normalise_email(raw: str, *, field: str = "email") -> str:
    """Validate an address and return its canonical spelling; raise ValidationError naming
    the field. Validation is of the canonical spelling, so whatever folds to a valid address
    is that address."""
    candidate = (raw or "").strip()
    if not candidate:
        raise ValidationError("Enter your email address.", field=field)
    address = canonical_address(candidate)
    if len(candidate) > MAX_LENGTH or len(address) > MAX_LENGTH:
        raise ValidationError("This email address is too long.", field=field)
    try:
        checked = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        raise ValidationError("Enter a valid email address.", field=field) from None
    # email_validator may tidy the local part further (it is NFC already); fold once more so
    # what is stored is exactly what canonical_address gives for it.
    return canonical_address(f"{checked.local_part}@{checked.ascii_domain}")


def rate_limit_key(raw: str | None) -> str:
    """The key for per-address rate limits: the address's canonical spelling, even for
    input that does not validate (so no spelling of an address gets a fresh count)."""
    try:
        return normalise_email(raw or "")
    except ValidationError:
        return canonical_address(raw)[:MAX_LENGTH]
