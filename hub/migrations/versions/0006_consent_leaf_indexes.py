"""consents name the audit log leaves that record their giving and withdrawal

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 10:40:00

Both columns are nullable: consents given before this revision keep no leaf index (their events are in
the log; the index was not kept beside them).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("consent", sa.Column("given_leaf_index", sa.BigInteger(), nullable=True))
    op.add_column("consent", sa.Column("withdrawn_leaf_index", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consent") as batch:
        batch.drop_column("withdrawn_leaf_index")
        batch.drop_column("given_leaf_index")
