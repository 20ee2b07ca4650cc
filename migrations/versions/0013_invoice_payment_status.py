"""invoice payment status: the status of the PaymentIntent behind an invoice

`requires_action` means the member's bank asks them to confirm the payment (3-D Secure): the
account page then links to Stripe's hosted invoice page, where they confirm it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-23 10:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("invoices", sa.Column("payment_intent_status", sa.String(length=30), nullable=True))


def downgrade():
    op.drop_column("invoices", "payment_intent_status")  # SQLite 3.35 and later: in place
