"""issuing authorizations, two-person approvals and the department key lifecycle

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 04:00:00

- ``issuing_authorization``: what a department may issue and for holders of which region. Every
  department registered before this revision gets one authorization per catalog type of its kind, over
  its own region, until the end of 2036, so existing feeds keep flowing; admins narrow or revoke them.
- Departments, their keys and admins record who requested and who approved them; rows from before are
  the operator's (no admin recorded) and stay ``active``.
- Department keys gain the ``compromised`` state with ``compromised_since``, and ``activated_at``.
- ``licence_type.one_per_holder``, set for 居民身份证 and 居民户口簿.
- ``licence.withheld``: a licence whose current version a compromised key signed.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ONE_PER_HOLDER = ("11100000000013127D001", "11100000000013127D002")
LEGAL_BASIS = "registered before issuing authorizations (migration 0009); review and renew"
UNTIL = datetime(2036, 12, 31, 16, 0, tzinfo=UTC)


def upgrade() -> None:
    for table in ("department", "department_key", "admin"):
        op.add_column(table, sa.Column("requested_by", sa.Integer(), nullable=True))
        op.add_column(table, sa.Column("approved_by", sa.Integer(), nullable=True))
    op.add_column(
        "department", sa.Column("status", sa.String(length=16), nullable=False, server_default="active")
    )
    op.add_column(
        "department_key", sa.Column("rotation", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    for column in ("activated_at", "compromised_since", "compromised_at"):
        op.add_column("department_key", sa.Column(column, UTCDateTime(timezone=True), nullable=True))
    op.add_column("admin", sa.Column("controlled_by", sa.JSON(), nullable=True))
    op.add_column(
        "licence_type", sa.Column("one_per_holder", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("licence", sa.Column("withheld", sa.String(length=32), nullable=True))
    authorizations = op.create_table(
        "issuing_authorization",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("department_id", sa.String(length=64), sa.ForeignKey("department.id"), nullable=False),
        sa.Column("type_code", sa.String(length=32), sa.ForeignKey("licence_type.code"), nullable=False),
        sa.Column("jurisdiction_code", sa.String(length=12), sa.ForeignKey("region.code"), nullable=False),
        sa.Column("valid_from", UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_until", UTCDateTime(timezone=True), nullable=False),
        sa.Column("legal_basis", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("approved_by", sa.Integer(), nullable=True),
        sa.Column("approved_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.Integer(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_issuing_authorization_department", "issuing_authorization", ["department_id", "type_code"]
    )

    bind = op.get_bind()
    bind.execute(
        sa.text("UPDATE licence_type SET one_per_holder = :yes WHERE code IN :codes").bindparams(
            sa.bindparam("codes", expanding=True)
        ),
        {"yes": True, "codes": list(ONE_PER_HOLDER)},
    )
    bind.execute(sa.text("UPDATE department_key SET activated_at = created_at"))
    now = datetime.now(UTC)
    rows = bind.execute(
        sa.text(
            "SELECT d.id, t.code, d.region_code, d.created_at FROM department d "
            "JOIN licence_type t ON t.issuer_kind = d.kind WHERE t.classification <> 'state_secret'"
        )
    ).all()
    common = {"valid_until": UNTIL, "legal_basis": LEGAL_BASIS, "status": "active"}
    op.bulk_insert(
        authorizations,
        [
            {
                "department_id": department,
                "type_code": code,
                "jurisdiction_code": region,
                **common,
                "valid_from": created,
                "approved_at": now,
                "created_at": now,
            }
            for department, code, region, created in rows
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_issuing_authorization_department", table_name="issuing_authorization")
    op.drop_table("issuing_authorization")
    with op.batch_alter_table("licence") as batch:
        batch.drop_column("withheld")
    with op.batch_alter_table("licence_type") as batch:
        batch.drop_column("one_per_holder")
    with op.batch_alter_table("admin") as batch:
        for column in ("controlled_by", "approved_by", "requested_by"):
            batch.drop_column(column)
    with op.batch_alter_table("department_key") as batch:
        for column in (
            "compromised_at",
            "compromised_since",
            "activated_at",
            "rotation",
            "approved_by",
            "requested_by",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("department") as batch:
        for column in ("status", "approved_by", "requested_by"):
            batch.drop_column(column)
