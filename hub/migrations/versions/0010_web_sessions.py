"""browser sign-ins kept on the server: the cookie names a row, and signing out deletes it

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 04:20:00

Until now a sign-in lived only in the signed cookie, so a cookie copied before sign-out kept working
until it expired, and disabling an admin had nothing to end. The cookie now carries a random id; this
table holds its SHA-256 and who signed in when (the sign-in lifetime is counted from ``signed_in_at``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_session",
        sa.Column("id_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("admin_id", sa.Integer(), nullable=True),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("region_code", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=True),
        sa.Column("signed_in_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_session_admin_id"), ["admin_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_web_session_signed_in_at"), ["signed_in_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_session_signed_in_at"))
        batch_op.drop_index(batch_op.f("ix_web_session_admin_id"))
    op.drop_table("web_session")
