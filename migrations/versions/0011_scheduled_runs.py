"""scheduled runs: the worker's scheduler claims each period of each periodic task here

One row per (task, period), unique, so the worker whose INSERT makes the row is the one that
runs that period (paywall/scheduler.py).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-09 10:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

import paywall.dbtypes

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "scheduled_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", paywall.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", paywall.dbtypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_runs")),
        sa.UniqueConstraint("task", "period", name="uq_scheduled_runs_task_period"),
    )


def downgrade():
    op.drop_table("scheduled_runs")
