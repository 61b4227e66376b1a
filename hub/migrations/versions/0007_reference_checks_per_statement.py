"""on PostgreSQL, a batch's licence and version rows have their references checked once per statement

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 17:20:00

A foreign key is checked by one query per inserted row. Ingest copies a batch's licences and versions in
bulk, and those three checks per licence were a third of the database's work per batch (the department
and the licence type, the same row 500 times over; the licence a version belongs to). On PostgreSQL they
are replaced by triggers that check all the rows one statement wrote at once, through its transition
table:

- ``licence.department_id`` names a department and ``licence.type_code`` a licence type, after every
  INSERT or UPDATE of licences; the departments and types named are locked (FOR KEY SHARE) as a foreign
  key would lock them, so that a concurrent delete waits and then sees the new licences;
- ``licence_version.licence_pk`` names a licence, after every INSERT of versions;
- a department, licence type or licence that is still referenced cannot be deleted, nor its key changed.

A violation is a ``foreign_key_violation`` (23503), as before. The models keep declaring the foreign keys
(SQLite enforces them as such). The licences a batch's versions name are not locked: licences are never
deleted, and the delete trigger refuses to delete one that has versions.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, referenced table, referenced column and its SQL type, the foreign key it replaces)
REFERENCES = (
    ("licence", "department_id", "department", "id", "text", "licence_department_id_fkey"),
    ("licence", "type_code", "licence_type", "code", "text", "licence_type_code_fkey"),
    ("licence_version", "licence_pk", "licence", "id", "bigint", "licence_version_licence_pk_fkey"),
)

UPGRADE = """
CREATE FUNCTION hub_licence_references_exist() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM department WHERE id IN (SELECT DISTINCT department_id FROM written) FOR KEY SHARE;
    PERFORM 1 FROM licence_type WHERE code IN (SELECT DISTINCT type_code FROM written) FOR KEY SHARE;
    IF EXISTS (SELECT 1 FROM written w
               WHERE NOT EXISTS (SELECT 1 FROM department d WHERE d.id = w.department_id)) THEN
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
            MESSAGE = 'licence.department_id names no department', CONSTRAINT = 'licence_department_id_fkey';
    END IF;
    IF EXISTS (SELECT 1 FROM written w
               WHERE NOT EXISTS (SELECT 1 FROM licence_type t WHERE t.code = w.type_code)) THEN
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
            MESSAGE = 'licence.type_code names no licence type', CONSTRAINT = 'licence_type_code_fkey';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER licence_references_on_insert AFTER INSERT ON licence
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION hub_licence_references_exist();
CREATE TRIGGER licence_references_on_update AFTER UPDATE ON licence
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION hub_licence_references_exist();

CREATE FUNCTION hub_licence_version_references_exist() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM written w
               WHERE NOT EXISTS (SELECT 1 FROM licence l WHERE l.id = w.licence_pk)) THEN
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
            MESSAGE = 'licence_version.licence_pk names no licence',
            CONSTRAINT = 'licence_version_licence_pk_fkey';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER licence_version_references_on_insert AFTER INSERT ON licence_version
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT
    EXECUTE FUNCTION hub_licence_version_references_exist();
CREATE TRIGGER licence_version_references_on_update AFTER UPDATE ON licence_version
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT
    EXECUTE FUNCTION hub_licence_version_references_exist();

-- TG_ARGV: the referencing table, its column, the referenced column and its SQL type.
CREATE FUNCTION hub_refuse_removing_referenced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    key text := to_jsonb(OLD) ->> TG_ARGV[2];
    referenced boolean;
BEGIN
    IF TG_OP = 'UPDATE' AND key IS NOT DISTINCT FROM to_jsonb(NEW) ->> TG_ARGV[2] THEN
        RETURN NEW;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I = CAST($1 AS %s))',
                   TG_ARGV[0], TG_ARGV[1], TG_ARGV[3])
        INTO referenced USING key;
    IF referenced THEN
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
            MESSAGE = format('%s %s is still referenced from %s.%s',
                             TG_TABLE_NAME, key, TG_ARGV[0], TG_ARGV[1]);
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
"""


def _guards() -> list[str]:
    return [
        f"CREATE TRIGGER {table}_{column}_referenced BEFORE DELETE OR UPDATE OF {target_column} ON {target} "
        f"FOR EACH ROW EXECUTE FUNCTION hub_refuse_removing_referenced('{table}', '{column}', "
        f"'{target_column}', '{sql_type}')"
        for table, column, target, target_column, sql_type, _ in REFERENCES
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, _, _, _, _, constraint in REFERENCES:
        op.drop_constraint(constraint, table, type_="foreignkey")
    op.execute(UPGRADE)
    for statement in _guards():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, target, _, _, _ in REFERENCES:
        op.execute(f"DROP TRIGGER {table}_{column}_referenced ON {target}")
    for trigger, table in (
        ("licence_references_on_insert", "licence"),
        ("licence_references_on_update", "licence"),
        ("licence_version_references_on_insert", "licence_version"),
        ("licence_version_references_on_update", "licence_version"),
    ):
        op.execute(f"DROP TRIGGER {trigger} ON {table}")
    for function in (
        "hub_licence_references_exist",
        "hub_licence_version_references_exist",
        "hub_refuse_removing_referenced",
    ):
        op.execute(f"DROP FUNCTION {function}()")
    for table, column, target, target_column, _, constraint in REFERENCES:
        op.create_foreign_key(constraint, table, target, [column], [target_column])
