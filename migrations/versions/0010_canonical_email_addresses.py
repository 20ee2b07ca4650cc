"""stored addresses in their canonical spelling: NFKC, case-folded, the domain in IDNA form

Accounts, newsletter subscribers and confirmations, team invitations, sign-in tokens and
email trial claims were stored lower-cased only, so `ｒeader@example.com` (a full-width r) and
`reader@example.com` could be two accounts. Each stored address becomes its canonical spelling.

A row whose canonical spelling another row already holds, or would take too, collides: every
row of such a group is left exactly as it is, and their ids are named in a WARNING on the
migration log (logger `paywall.migrations`), for staff to merge or remove by hand. Nothing is
dropped. (A look-alike account left so is reached by no sign-in: every spelling typed now
finds the canonical one.)
The downgrade changes nothing back: the earlier spellings are not kept anywhere.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 10:00:00.000000

"""

import logging
import unicodedata
from collections import defaultdict

import idna
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BATCH = 5_000
MAX_LENGTH = 254
GMAIL = {"gmail.com", "googlemail.com"}
log = logging.getLogger("paywall.migrations")


# Frozen here, as migrations are: paywall.accounts.emails.canonical_address and
# paywall.billing.trials.email_key as they were when this migration was written.
def _fold(text):
    return unicodedata.normalize("NFKC", text.casefold())


def _canonical_domain(domain):
    text = unicodedata.normalize("NFKC", domain).strip().removeprefix("@")
    try:
        return idna.encode(text, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return _fold(text)


def canonical_address(raw):
    text = unicodedata.normalize("NFKC", (raw or "").strip())
    local, at, domain = text.rpartition("@")
    if not at:
        return _fold(text)
    return f"{_fold(local)}@{_canonical_domain(domain)}"


def email_key(email):
    local, _, domain = canonical_address(email).rpartition("@")
    local = local.split("+", 1)[0]
    if domain in GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


# (table, address column, the columns it is unique together with (None: not unique),
#  which rows (a value of one of those columns), the new spelling)
TABLES = [
    ("users", "email", (), None, canonical_address),
    ("newsletter_subscriptions", "email", ("list_slug",), None, canonical_address),
    ("newsletter_confirmations", "email", None, None, canonical_address),
    ("team_invites", "email", None, None, canonical_address),
    ("email_tokens", "email", None, None, canonical_address),
    ("trial_claims", "value", ("kind",), ("kind", "email"), email_key),
]


def upgrade():
    bind = op.get_bind()
    for name, column, unique_with, only, fold in TABLES:
        _refold(bind, name, column, unique_with, only, fold)


def downgrade():
    pass  # canonical spellings are valid addresses under the old rules too


def _refold(bind, name, column, unique_with, only, fold):
    others = tuple(unique_with or ())
    table = sa.table(name, sa.column("id", sa.Integer), sa.column(column, sa.String),
                     *(sa.column(c, sa.String) for c in others))  # fmt: skip
    where = [table.c[only[0]] == only[1]] if only else []
    changes = _changes(bind, table, column, others, where, fold)
    if unique_with is not None:
        _drop_collisions(bind, table, column, others, changes)
    updates = [{"row_id": row_id, "new": new} for row_id, (new, _) in changes.items()]
    for start in range(0, len(updates), BATCH):
        bind.execute(
            table.update()
            .where(table.c.id == sa.bindparam("row_id"))
            .values({column: sa.bindparam("new")}),
            updates[start : start + BATCH],
        )
    if updates:
        log.info("%s.%s: %d addresses now in their canonical spelling", name, column, len(updates))


def _changes(bind, table, column, others, where, fold):
    """{row id: (new spelling, the row's other unique columns)} for every row that changes."""
    changes, last_id = {}, 0
    while True:
        rows = bind.execute(
            sa.select(table.c.id, table.c[column], *(table.c[c] for c in others))
            .where(table.c.id > last_id, *where)
            .order_by(table.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return changes
        for row in rows:
            old = row[1]
            new = fold(old) if old is not None else None
            if new is None or new == old:
                continue
            if len(new) > MAX_LENGTH:
                log.warning("%s row %s left unchanged: its canonical spelling is too long",
                            table.name, row.id)  # fmt: skip
                continue
            changes[row.id] = (new, tuple(row[2:]))
        last_id = rows[-1].id


def _drop_collisions(bind, table, column, others, changes):
    """Leave unchanged every row whose new spelling is held, or wanted by another row too."""
    wanted = defaultdict(list)
    for row_id, (new, rest) in changes.items():
        wanted[(new, rest)].append(row_id)
    for (new, rest), row_ids in wanted.items():
        same = [table.c[column] == new, *(table.c[c] == v for c, v in zip(others, rest))]
        held = bind.execute(sa.select(table.c.id).where(*same).limit(1)).scalar()
        if held is None and len(row_ids) == 1:
            continue
        clash = sorted(row_ids) + ([held] if held is not None else [])
        log.warning(
            "%s rows %s spell one address: left unchanged, merge them by hand",
            table.name,
            ", ".join(str(i) for i in clash),
        )
        for row_id in row_ids:
            del changes[row_id]
