"""One SQL command per statement, everywhere (DOMAIN.md "Scale-out"; docs/scale-out.md).

A string holding two commands runs on PostgreSQL only through the simple query protocol; prepared
(server-side bound) it fails with "cannot insert multiple commands into a prepared statement", and
Citus propagates DDL to its workers one command at a time. So every RunSQL in every migration is a
list of single commands, and every SQL string the code hands to `execute` is one command: this
test reads the source (the migrations' operations as loaded, and every `execute` call written in
the project), and tests/citus/test_prepared_migrations.py runs the brand migrations with every
statement prepared to prove it.
"""

import ast
from pathlib import Path

import sqlparse
from django.db import migrations
from django.db.migrations.loader import MigrationLoader

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".venv", "node_modules", ".data", "test-output", ".git"}


def commands(sql: str) -> list[str]:
    """The commands in `sql` as PostgreSQL would see them (sqlparse knows dollar quoting)."""
    return [part for part in sqlparse.split(sql) if sqlparse.format(part, strip_comments=True).strip(" ;\n\t")]


def _run_sql_operations(operations):
    for operation in operations:
        if isinstance(operation, migrations.SeparateDatabaseAndState):
            yield from _run_sql_operations(operation.database_operations)
        elif isinstance(operation, migrations.RunSQL):
            yield operation


def _statements(sqls) -> list[str]:
    if sqls == migrations.RunSQL.noop:
        return []
    if isinstance(sqls, str):
        return [sqls]
    return [sql[0] if isinstance(sql, (list, tuple)) else sql for sql in sqls]


def test_every_run_sql_in_every_migration_is_a_list_of_single_commands():
    loader = MigrationLoader(None, ignore_no_migrations=True)
    offenders = []
    scanned = 0
    for (app, name), migration in loader.disk_migrations.items():
        for operation in _run_sql_operations(migration.operations):
            scanned += 1
            for direction, sqls in (("sql", operation.sql), ("reverse_sql", operation.reverse_sql)):
                if isinstance(sqls, str) and sqls != migrations.RunSQL.noop:
                    # A bare string is split by sqlparse at run time (Django's prepare_sql_script):
                    # correct today, but one unusual quote away from two commands in one statement.
                    offenders.append(f"{app}.{name} {direction}: a string, not a list of commands")
                for statement in _statements(sqls):
                    if len(commands(statement)) > 1:
                        offenders.append(f"{app}.{name} {direction}: {len(commands(statement))} commands in one")
    assert scanned >= 15, scanned  # the scan really saw the project's RunSQL operations
    assert not offenders, "\n".join(offenders)


def _sql_text(node: ast.expr, constants: dict[str, ast.expr]) -> str | None:
    """The SQL text of an `execute` argument written in the source, with every f-string hole (a
    quoted name, a table) standing in as one identifier; None when it is not literal text."""
    if isinstance(node, ast.Name) and node.id in constants:
        return _sql_text(constants[node.id], {})
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            str(part.value) if isinstance(part, ast.Constant) else "placeholder_name" for part in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _sql_text(node.left, constants), _sql_text(node.right, constants)
        return None if left is None or right is None else left + right
    return None


def _python_files():
    for path in ROOT.rglob("*.py"):
        if not SKIP_DIRS.intersection(path.relative_to(ROOT).parts):
            yield path


def test_every_sql_string_the_code_executes_is_one_command():
    offenders = []
    scanned = 0
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {
            target.id: node.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name not in {"execute", "executemany", "RunSQL", "raw"} or not (node.args or name == "RunSQL"):
                continue
            arguments = node.args[:1]
            if name == "RunSQL":
                arguments = [*node.args[:2], *(kw.value for kw in node.keywords if kw.arg in {"sql", "reverse_sql"})]
            for argument in arguments:
                elements = argument.elts if isinstance(argument, (ast.List, ast.Tuple)) else [argument]
                for element in elements:
                    text = _sql_text(element, constants)
                    if text is None:
                        continue
                    scanned += 1
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    if name == "RunSQL" and element is argument and text.strip():
                        offenders.append(f"{where} RunSQL given a string, not a list")
                    if len(commands(text)) > 1:
                        offenders.append(f"{where} {len(commands(text))} commands in one")
    assert scanned >= 200, scanned
    assert not offenders, "\n".join(offenders)


def test_the_scan_sees_two_commands_where_there_are_two():
    function = "CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'a; b'; END; $$ LANGUAGE plpgsql"
    assert len(commands(function)) == 1
    assert len(commands(f"{function};\nCREATE TRIGGER t BEFORE UPDATE ON x FOR EACH ROW EXECUTE FUNCTION f();")) == 2
    assert len(commands("SELECT 1; -- a trailing comment\n")) == 1


def test_the_schema_editor_sends_djangos_two_command_ddl_one_command_at_a_time():
    from crm.db.backend.schema import sql_commands

    inline_fk = (
        'ALTER TABLE "members_order" ADD COLUMN "staff_id" bigint NULL CONSTRAINT "fk" REFERENCES "members_staff"("id")'
        ' DEFERRABLE INITIALLY DEFERRED; SET CONSTRAINTS "fk" IMMEDIATE'
    )
    assert sql_commands(inline_fk) == [inline_fk.split("; ")[0], 'SET CONSTRAINTS "fk" IMMEDIATE']
    assert sql_commands("ALTER TABLE t ALTER COLUMN c SET DEFAULT 'a;b'") == [
        "ALTER TABLE t ALTER COLUMN c SET DEFAULT 'a;b'"
    ]
