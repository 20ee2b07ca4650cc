"""bulk mail: mailings fanned out to deliveries, the suppression list, industry mail choices

An industry issue, a weekly review or a free list issue is one `mailings` row; each recipient is
one `mail_deliveries` row, unique per (mailing, email), so no address gets a mailing twice.
`mail_suppressions` holds addresses bulk mail skips; `industry_mail_preferences` holds how a
member receives their industries (no row: the weekly review only).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-16 10:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

import paywall.dbtypes

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _moment(name, nullable=True):
    return sa.Column(name, paywall.dbtypes.UTCDateTime(timezone=True), nullable=nullable)


def upgrade():
    op.create_table(
        "mailings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("list_slug", sa.String(length=40), nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=True),
        sa.Column("html_body", sa.Text(), nullable=True),
        _moment("covers_from"),
        _moment("covers_until"),
        sa.Column("test_to", sa.String(length=254), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        _moment("created_at", nullable=False),
        _moment("fanned_at"),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"], ["content_items.id"],
            name=op.f("fk_mailings_item_id_content_items"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"],
            name=op.f("fk_mailings_created_by_id_users"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailings")),
        sa.UniqueConstraint("key", name=op.f("uq_mailings_key")),
    )
    op.create_index(op.f("ix_mailings_item_id"), "mailings", ["item_id"], unique=False)
    op.create_table(
        "mail_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailing_id", sa.Integer(), nullable=False),
        sa.Column("recipient_key", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _moment("next_attempt_at", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _moment("sent_at"),
        _moment("unsubscribed_at"),
        sa.ForeignKeyConstraint(
            ["mailing_id"], ["mailings.id"],
            name=op.f("fk_mail_deliveries_mailing_id_mailings"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"],
            name=op.f("fk_mail_deliveries_user_id_users"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_deliveries")),
        sa.UniqueConstraint("mailing_id", "email", name="uq_mail_deliveries_mailing_email"),
    )
    op.create_index(
        "ix_mail_deliveries_mailing_status", "mail_deliveries", ["mailing_id", "status"]
    )
    op.create_table(
        "mail_suppressions",
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _moment("created_at", nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"],
            name=op.f("fk_mail_suppressions_created_by_id_users"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_mail_suppressions")),
    )
    op.create_table(
        "industry_mail_preferences",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("each_issue", sa.Boolean(), nullable=False),
        sa.Column("weekly_review", sa.Boolean(), nullable=False),
        sa.Column("industries_chosen", sa.Boolean(), nullable=False),
        _moment("updated_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"],
            name=op.f("fk_industry_mail_preferences_user_id_users"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_industry_mail_preferences")),
    )


def downgrade():
    op.drop_table("industry_mail_preferences")
    op.drop_table("mail_suppressions")
    op.drop_index("ix_mail_deliveries_mailing_status", table_name="mail_deliveries")
    op.drop_table("mail_deliveries")
    op.drop_index(op.f("ix_mailings_item_id"), table_name="mailings")
    op.drop_table("mailings")
