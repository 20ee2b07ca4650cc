"""audit log: the database refuses UPDATE and DELETE on audit_log

The one update allowed is a foreign key's ON DELETE SET NULL (a user or team row deleted). The
same triggers are made by create_all() (paywall/audit.py); this copy is frozen, as migrations are.
On SQLite, a later batch_alter_table("audit_log") rebuilds the table without its triggers: such
a migration must create them again.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:00:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SQLITE = (
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    WHEN NOT (NEW.id IS OLD.id AND NEW.actor_email IS OLD.actor_email
              AND NEW.action IS OLD.action AND NEW.target IS OLD.target
              AND NEW.details IS OLD.details AND NEW.created_at IS OLD.created_at
              AND (NEW.actor_id IS NULL OR NEW.actor_id IS OLD.actor_id)
              AND (NEW.team_id IS NULL OR NEW.team_id IS OLD.team_id)
              AND (NEW.subject_id IS NULL OR NEW.subject_id IS OLD.subject_id))
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
)
# The SET NULL is an UPDATE run by the foreign key's own trigger: depth 2, never 1.
POSTGRES = (
    """CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND pg_trigger_depth() > 1
           AND (NEW.actor_id IS NULL OR NEW.actor_id = OLD.actor_id)
           AND (NEW.team_id IS NULL OR NEW.team_id = OLD.team_id)
           AND (NEW.subject_id IS NULL OR NEW.subject_id = OLD.subject_id)
           AND to_jsonb(NEW) - '{actor_id,team_id,subject_id}'::text[]
               = to_jsonb(OLD) - '{actor_id,team_id,subject_id}'::text[] THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'restrict_violation',
            MESSAGE = 'audit_log is append-only: ' || TG_OP || ' refused';
    END $$""",
    """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
)


def upgrade():
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE, "postgresql": POSTGRES}.get(dialect, ()):
        op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
