"""Mail headers as they must look on the wire, and what text may go into one.

The email package's default policy folds every header line over 78 characters, and it folds a
line that has no whitespace to break at by turning it into RFC 2047 encoded-words. That suits a
Subject, but fields that carry a URL or an identifier are read as they are: an encoded
`List-Unsubscribe: =?utf-8?q?=3Chttps=3A//...?=` is no unsubscribe link at all, and mail
providers then show no unsubscribe button. POLICY writes those fields verbatim instead.
"""

from __future__ import annotations

import re
from email import policy as email_policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.policy import Policy
from typing import Any

# RFC 5322 2.1.1: a line is at most 998 characters. A word (a URL) has to fit on one line,
# after the longest field name written verbatim ("List-Unsubscribe-Post: ").
LONGEST_LINE = 998
LONGEST_WORD = LONGEST_LINE - len("List-Unsubscribe-Post: ")

# RFC 2369's list fields (each a list of <URL>s), RFC 8058's List-Unsubscribe-Post and
# RFC 2919's List-Id (a phrase and an <id>).
VERBATIM_FIELDS = (
    "List-Archive",
    "List-Help",
    "List-Id",
    "List-Owner",
    "List-Post",
    "List-Subscribe",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)

# RFC 5322 3.6.8: a field name is printable ASCII other than the colon.
FIELD_NAME = re.compile(r"[!-9;-~]+")

# What ends a line somewhere (str.splitlines() splits at every one of these, and the email
# package refuses a header value holding any), plus the other control characters, which no
# name or subject needs (NUL cannot even be stored in PostgreSQL). A tab is fine.
_NOT_IN_ONE_LINE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def is_one_line(text: str) -> bool:
    """Whether text can go into a mail header as it is: no line breaks, no control characters."""
    return _NOT_IN_ONE_LINE.search(text) is None


class VerbatimHeader(BaseHeader):
    """A field written as given: folded at whitespace only, never encoded, ASCII only."""

    max_count = 1

    @classmethod
    def parse(cls, value: str, kwds: dict[str, Any]) -> None:
        if not value.isascii():
            raise ValueError("must be ASCII (a URL in it must be percent-encoded)")
        words = value.split()
        if any(len(word) > LONGEST_WORD for word in words):
            raise ValueError(f"a word longer than {LONGEST_WORD} characters cannot fit a line")
        kwds["parse_tree"] = None
        kwds["decoded"] = " ".join(words)

    def fold(self, *, policy: Policy) -> str:
        """Words onto lines of at most max_line_length where they fit; a word that does not
        fit on a line of its own is not broken, it makes a longer line."""
        limit = policy.max_line_length or LONGEST_LINE
        lines = [f"{self.name}:"]
        for index, word in enumerate(str(self).split()):
            if index and len(lines[-1]) + 1 + len(word) > limit:
                lines.append("")  # a continuation line: it starts with the space below
            lines[-1] += " " + word
        return policy.linesep.join(lines) + policy.linesep


def _registry() -> HeaderRegistry:
    registry = HeaderRegistry()
    for name in VERBATIM_FIELDS:
        registry.map_to_type(name, VerbatimHeader)
    return registry


# SMTP's CRLF line ends, the default policy's handling of every other field.
POLICY = email_policy.SMTP.clone(header_factory=_registry())
