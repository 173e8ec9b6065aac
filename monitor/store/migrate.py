"""Schema migrations with Alembic: the only way the schema is created or changed.

``upgrade`` brings a database to the newest revision; it runs at every start (``open_engine``)
and as ``monitor db upgrade``. On PostgreSQL it holds an advisory lock for the whole upgrade, so
replicas that start together migrate once, one after the other. A database created before
migrations existed (by an early version's ``create_all``) is recognised and adopted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

from monitor.errors import StorageError
from monitor.store import tables
from monitor.store.tables import UTCDateTime

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
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations directory has no revision"
    return head


def status(engine: Engine) -> SchemaStatus:
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot read the schema revision: {_first_line(exc)}") from exc
    return SchemaStatus(current, head_revision())


def upgrade(engine: Engine) -> SchemaStatus:
    """Migrate to the newest revision; return the status before the upgrade."""
    head = head_revision()
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
            current = MigrationContext.configure(connection).get_current_revision()
            before = SchemaStatus(current, head)
            if current == head:
                return before
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
