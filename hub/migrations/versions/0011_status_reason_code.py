"""status reasons as a closed code list: the code is public with the status, the text is not

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 18:00:00

A status statement's ``reason`` was free text and the public status answer showed it (the police adapter
copied 注销原因 there: "离婚登记" could be read anonymously). Statements now carry a ``reason_code`` from
``hub.contract.status.StatusReason``; the licence and each status change keep it beside the text.
Existing changes have no code (none was signed): they show none, and their text stays at T1 and above.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("licence", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status_reason_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
    with op.batch_alter_table("licence_status_change", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reason_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("licence_status_change", schema=None) as batch_op:
        batch_op.drop_column("reason_code")
    with op.batch_alter_table("licence", schema=None) as batch_op:
        batch_op.drop_column("status_reason_code")
