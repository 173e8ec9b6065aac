"""Schema migrations: an empty database on SQLite and PostgreSQL ends exactly at the code's tables."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from monitor.cli import main
from monitor.cluster import fingerprint
from monitor.errors import StorageError
from monitor.identity import identify
from monitor.store import Repository, open_engine
from monitor.store.db import migrate_in_child
from monitor.store.migrate import BASELINE_REVISION, alembic_config, differences, head_revision, status
from monitor.types import FeedEntry, MatchResult, OutcomeStatus, SourceOutcome
from tests.support.configs import ROOT, write_config


def test_an_empty_database_is_migrated_to_exactly_the_tables_of_the_code(database_url: str) -> None:
    engine = open_engine(database_url)
    try:
        with engine.connect() as connection:
            assert differences(connection) == []
        assert status(engine).current == head_revision()
        # a second open finds nothing to do
        assert open_engine(database_url).dispose() is None
    finally:
        engine.dispose()


def test_a_database_made_before_migrations_is_adopted_and_keeps_its_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = open_engine(url, migrate=False)
    try:
        # What an early version left behind: the baseline schema with data, and no alembic_version.
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, BASELINE_REVISION)
            connection.execute(text("DROP TABLE alembic_version"))
            connection.execute(
                text("INSERT INTO sources (name, consecutive_errors, items_total) VALUES ('koha', 2, 17)")
            )
    finally:
        engine.dispose()
    with Repository(open_engine(url)) as repo:
        state = repo.source_state("koha")
        assert (state.consecutive_errors, state.items_total, state.paused) == (2, 17, False)
        with repo.engine.connect() as connection:
            assert differences(connection) == []


def test_replicas_starting_together_on_postgresql_migrate_once(postgres_url: str) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            open_engine(postgres_url).dispose()
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    engine = open_engine(postgres_url, migrate=False)
    try:
        assert status(engine).up_to_date
        assert "alembic_version" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_db_upgrade_and_status_commands(tmp_path: Path) -> None:
    config = write_config(tmp_path, [])
    out = io.StringIO()
    assert main(["--config", str(config), "db", "status"], out=out) == 0
    assert "revision none" in out.getvalue() and "needs `monitor db upgrade`" in out.getvalue()
    out = io.StringIO()
    assert main(["--config", str(config), "db", "upgrade"], out=out) == 0
    assert f"schema upgraded from empty to {head_revision()}" in out.getvalue()
    out = io.StringIO()
    assert main(["--config", str(config), "db", "upgrade"], out=out) == 0
    assert "already at the newest revision" in out.getvalue()
    out = io.StringIO()
    main(["--config", str(config), "db", "status"], out=out)
    assert "(up to date)" in out.getvalue()


def test_matches_stored_before_marked_snippets_were_kept_read_without_them(database_url: str) -> None:
    engine = open_engine(database_url)
    try:
        with Repository(engine) as repo:
            item = identify("wire", FeedEntry(None, "https://wire.example/a/1", "Title", "Text", None, "en"), "en")
            marked = MatchResult(True, 4.0, ("Talks.",), (), (), None, "dialogue+both-sides", ("⟦Talks⟧.",))
            outcome = SourceOutcome("wire", OutcomeStatus.OK)
            repo.commit_poll(outcome, [(item, marked)], "m1", datetime(2026, 11, 22, tzinfo=UTC))
        # back to the schema without the column, then forward again: the old row gets [] (the digest
        # then marks the snippet by running the matcher, as before)
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0004")
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        with Repository(engine) as repo:
            assert repo.items(matched_only=True)[0].match == replace(marked, marked_snippets=())
    finally:
        engine.dispose()


def test_the_head_read_from_the_version_files_is_alembics() -> None:
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_a_poll_never_loads_alembic_an_empty_database_is_migrated_in_a_child_process(tmp_path: Path) -> None:
    """Alembic, Mako and the migrations (about 8 MB) stay out of the poller's process, also on the
    first poll of an empty database: a child process migrates it (issue #8: peak memory)."""
    config = write_config(tmp_path, [])
    program = (
        "import sys; from monitor.cli import main; "
        f"code = main(['--config', {str(config)!r}, 'poll', '--once']); "
        "print(code, 'alembic' in sys.modules)"
    )
    runs = [subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True, cwd=ROOT)]
    engine = open_engine(f"sqlite:///{tmp_path / 'monitor.db'}", migrate=False)
    try:
        assert status(engine).up_to_date, "the child migrated the database"
    finally:
        engine.dispose()
    runs.append(subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True, cwd=ROOT))
    # The first poll had the schema created in a child; the second finds it up to date.
    assert [run.stdout.split()[-2:] for run in runs] == [["0", "False"], ["0", "False"]], [r.stderr for r in runs]


def test_items_stored_before_shingle_bitmaps_get_theirs_from_their_shingle_ids(database_url: str) -> None:
    lead = (
        "Kosovo's chief negotiator and Serbia's chief negotiator met in Brussels on Tuesday for a new round of "
        "the EU-facilitated dialogue, hosted by the EU special representative, who called the talks constructive."
    )
    texts = {
        "https://wire.example/a/1": lead,
        "https://wire.example/a/2": "Live updates.",
        "https://wire.example/a/3": lead + " More.",
    }
    engine = open_engine(database_url)
    try:
        with Repository(engine) as repo:
            items = [
                identify("wire", FeedEntry(None, url, "Talks", text, None, "en"), "en") for url, text in texts.items()
            ]
            outcome = SourceOutcome("wire", OutcomeStatus.OK)
            repo.commit_poll(
                outcome, [(i, MatchResult(False, 0.0)) for i in items], "m1", datetime(2026, 11, 23, tzinfo=UTC)
            )
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0005")
        with engine.begin() as connection:
            assert "shingle_bits" not in {c["name"] for c in inspect(connection).get_columns("story_items")}
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        with engine.connect() as connection:
            rows = connection.execute(
                text("select i.url, s.shingle_bits from story_items s join items i on i.id = s.item_id")
            ).all()
        expected = {}
        for url, body in texts.items():
            fp = fingerprint("Talks", body)
            expected[url] = fp.bits_bytes() if fp else None
        assert {url: (bytes(bits) if bits is not None else None) for url, bits in rows} == expected
        assert sum(bits is not None for _, bits in rows) == 2
    finally:
        engine.dispose()


def test_a_migration_that_fails_in_the_child_process_is_a_storage_error(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'empty.db'}", migrate=False)
    (tmp_path / "a-file").write_text("not a directory")
    try:
        with pytest.raises(StorageError) as raised:
            migrate_in_child(engine, f"sqlite:///{tmp_path / 'a-file' / 'x.db'}")
    finally:
        engine.dispose()
    assert "a-file" in raised.value.message


def test_a_postgresql_url_keeps_its_password_when_its_driver_is_chosen() -> None:
    # "postgresql://" gets the psycopg driver; the password must reach the server as written.
    engine = open_engine("postgresql://monitor:s3cret@127.0.0.1:5432/news", migrate=False)
    try:
        assert engine.url.drivername == "postgresql+psycopg"
        assert engine.url.password == "s3cret"
    finally:
        engine.dispose()
