"""Schema migrations with Alembic: the only way the schema is created or changed.

``upgrade`` brings a database to the newest revision; it runs at every start (``open_engine``)
and as ``monitor db upgrade``. On PostgreSQL it holds an advisory lock for the whole upgrade, so
replicas that start together migrate once, one after the other. A database created before
migrations existed (by an early version's ``create_all``) is recognised and adopted.

Alembic is imported only when a migration must run: every start compares the database's
revision (its ``alembic_version`` table) with the newest one, read from the version files
themselves, which spares each command the import (about 11 MB and 0.1 s).
"""

from __future__ import annotations

import ast
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

from monitor.errors import StorageError
from monitor.store import tables
from monitor.store.tables import UTCDateTime

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"
# The revision whose schema early versions created without Alembic.
BASELINE_REVISION = "0001"
# An arbitrary constant naming our advisory lock on PostgreSQL ("dlgmon" in ASCII).
_ADVISORY_LOCK = 0x646C676D6F6E


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def alembic_config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


# ast.parse is not thread-safe in CPython 3.11 (replicas starting in threads of one process met
# "SystemError: AST constructor recursion depth mismatch"): the version files are read one at a time.
_READING = threading.Lock()


def head_revision() -> str:
    """The newest revision: the one no other revision names as its ``down_revision``.

    Read from the version files' ``revision = …`` and ``down_revision = …`` lines; anything
    unusual there (no revision, several heads) is left to Alembic to read and report.
    """
    with _READING:
        return _head_revision()


def _head_revision() -> str:
    revisions: dict[str, tuple[str, ...]] = {}
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        found = _revision_of(path)
        if found is None:
            return _alembic_head()
        revisions[found[0]] = found[1]
    heads = set(revisions) - {down for downs in revisions.values() for down in downs}
    if len(heads) != 1:
        return _alembic_head()
    return heads.pop()


def _revision_of(path: Path) -> tuple[str, tuple[str, ...]] | None:
    """(revision, its down revisions) of a version file, None when they are not plain literals."""
    values: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        target: ast.expr | None = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision") and value is not None:
            try:
                values[target.id] = ast.literal_eval(value)
            except ValueError:
                return None
    revision, down = values.get("revision"), values.get("down_revision")
    if not isinstance(revision, str) or "down_revision" not in values:
        return None
    if down is None:
        return revision, ()
    downs = (down,) if isinstance(down, str) else down
    if not isinstance(downs, tuple | list) or not all(isinstance(d, str) for d in downs):
        return None
    return revision, tuple(downs)


def _alembic_head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations directory has no revision"
    return head


def current_revision(connection: Connection) -> str | None:
    """The database's revision (None: not under migrations yet), read as Alembic reads it."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    found = list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
    if len(found) > 1:  # several heads: Alembic's own reading says what is wrong
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(connection).get_current_revision()
    return found[0] if found else None


def status(engine: Engine) -> SchemaStatus:
    return SchemaStatus(_read_revision(engine, "cannot read the schema revision"), head_revision())


def needs_upgrade(engine: Engine) -> bool:
    """Whether ``upgrade`` has anything to do (a database it cannot read fails as ``upgrade`` would)."""
    return _read_revision(engine, "cannot migrate the database schema") != head_revision()


def _read_revision(engine: Engine, failure: str) -> str | None:
    """The database's revision; a database that cannot be read raises ``StorageError(failure: …)``."""
    try:
        with engine.connect() as connection:
            return current_revision(connection)
    except SQLAlchemyError as exc:
        raise StorageError(f"{failure}: {_first_line(exc)}") from exc


def upgrade(engine: Engine) -> SchemaStatus:
    """Migrate to the newest revision; return the status before the upgrade."""
    head = head_revision()
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
            current = current_revision(connection)
            before = SchemaStatus(current, head)
            if current == head:
                return before
            from alembic import command

            config = alembic_config()
            config.attributes["connection"] = connection
            if current is None and _created_before_migrations(connection):
                command.stamp(config, BASELINE_REVISION)
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot migrate the database schema: {_first_line(exc)}") from exc
    return before


def check_tables(engine: Engine) -> None:
    """Fail clearly when a table of the code has no migration yet (a developer's slip)."""
    with engine.connect() as connection:
        present = set(inspect(connection).get_table_names())
    missing = sorted(set(SQLModel.metadata.tables) - present)
    if missing:
        raise StorageError(
            f"the schema lacks table(s) {', '.join(missing)} defined in monitor/store/tables.py: "
            'no migration creates them; run `make migration m="add …"` and commit the new revision'
        )


def differences(connection: Connection) -> list[Any]:
    """What separates the database from the tables of the code (empty when they agree)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Write our column types into migrations as plain SQLAlchemy types, so old revisions
    never import code that may change later."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and type(obj).__module__.startswith("sqlmodel"):
        length = getattr(obj, "length", None)
        return f"sa.String(length={length})" if length else "sa.String()"
    return False


def _created_before_migrations(connection: Connection) -> bool:
    return inspect(connection).has_table(tables.SourceRow.__tablename__)


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
