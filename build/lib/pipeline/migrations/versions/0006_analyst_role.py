"""A read-only role for analysts: ``scangrade_analyst`` reads every table and view, writes nothing.

The role is NOLOGIN, a group role: each analyst logs in as a person of their own who is
granted it (``CREATE ROLE alice LOGIN; GRANT scangrade_analyst TO alice;``, docs/schema.md),
so the server's logs say who ran what.

It gets USAGE on schema ``public`` and SELECT on every table and view there except
``alembic_version``, Alembic's bookkeeping: every other table is documented for analysts in
docs/schema.md. Default privileges give it SELECT on the tables and views that later
migrations create too; they apply to objects created by the role that runs this migration,
which is the role that runs every migration. A later migration that adds a table analysts
must not see revokes it there. Nothing grants INSERT, UPDATE, DELETE, TRUNCATE or CREATE: on
Postgres 15 and later ``public`` gives PUBLIC no CREATE, so the role can create nothing there
(TEMPORARY tables, private to a session, remain possible as for every role).

Roles belong to the whole cluster, which many databases share (one per test run, say), so
the role is created only if missing, tolerating another database's migration creating it at
the same moment; creating it needs CREATEROLE, or an operator who created it beforehand. The
downgrade revokes what this database granted and leaves the role, which other databases may
use (``DROP ROLE scangrade_analyst`` once no database grants it anything).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ROLE = "scangrade_analyst"

# Another database migrating concurrently may create the role between the check and the
# CREATE: the loser sees duplicate_object, or unique_violation on pg_authid's name index.
CREATE_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
        CREATE ROLE {ROLE} NOLOGIN;
        COMMENT ON ROLE {ROLE} IS
            'scangrade analysts: SELECT on scangrade''s tables and views, no writes. '
            'Grant it to a login role: GRANT {ROLE} TO alice;';
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$
"""


def upgrade() -> None:
    op.execute(CREATE_ROLE)
    op.execute(f"GRANT USAGE ON SCHEMA public TO {ROLE}")
    op.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {ROLE}")
    op.execute(f"REVOKE ALL ON TABLE alembic_version FROM {ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {ROLE}")


def downgrade() -> None:
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {ROLE}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {ROLE}")
    op.execute(f"REVOKE ALL ON SCHEMA public FROM {ROLE}")
