"""users.name_last: search by surname on an index; filled in for existing members

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 20:30:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BATCH = 5_000


def _last_word(name):
    # Frozen here, as migrations are: the rule of paywall.accounts.models.last_name_word.
    words = (name or "").split()
    return words[-1].lower()[:120] if len(words) > 1 else None


def upgrade():
    # Plain ALTERs, not batch mode: a batch rebuild of users on SQLite would drop the
    # expression index on lower(name), which SQLite cannot reflect.
    op.add_column("users", sa.Column("name_last", sa.String(length=120), nullable=True))
    bind = op.get_bind()
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("name", sa.String),
                     sa.column("name_last", sa.String))  # fmt: skip
    last_id = 0
    while True:
        rows = bind.execute(
            sa.select(users.c.id, users.c.name)
            .where(users.c.id > last_id, users.c.name.is_not(None))
            .order_by(users.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        changes = [{"row_id": r.id, "last": _last_word(r.name)} for r in rows if _last_word(r.name)]
        if changes:
            bind.execute(
                users.update()
                .where(users.c.id == sa.bindparam("row_id"))
                .values(name_last=sa.bindparam("last")),
                changes,
            )
        last_id = rows[-1].id
    op.create_index(
        "ix_users_name_last",
        "users",
        ["name_last"],
        unique=False,
        postgresql_ops={"name_last": "text_pattern_ops"},
    )


def downgrade():
    op.drop_index("ix_users_name_last", table_name="users")
    op.drop_column("users", "name_last")  # SQLite 3.35 and later drop a column in place
