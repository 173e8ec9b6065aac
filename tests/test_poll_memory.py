"""What a poll keeps in memory at its peak (issue #8): the heap's free pages go back to the system
after each stored poll, and each SQLite connection caches few pages.

(That the poller never loads Alembic, even on an empty database, is in tests/test_migrations.py.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from monitor.store import open_engine
from monitor.store.db import SQLITE_CACHE_KIB

ROOT = Path(__file__).resolve().parents[1]

# Allocates 40 MB in 2 KB blocks from glibc's heap (the size of an item's text), frees seven in
# eight of them, as a stored poll frees its items, and prints how many MB ``release_free_memory``
# gave back. Without it glibc keeps the holes between the blocks still in use.
_HOLES_SCRIPT = """
import os
from monitor.parse_worker import release_free_memory, tune_allocator
def rss():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
assert tune_allocator()
blocks = [bytes(2000) for _ in range(20_000)]
kept = blocks[::8]
del blocks
before = rss()
assert release_free_memory()
print((before - rss()) // 2**20)
"""


def test_the_holes_that_freed_items_leave_in_the_heap_go_back_to_the_system() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _HOLES_SCRIPT], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    # 35 MB were freed in 14 KB holes: three of every four pages can go back (measured: 23 MB).
    assert int(done.stdout) >= 10, f"only {done.stdout.strip()} MB given back"


def test_each_sqlite_connection_caches_at_most_512_kib_of_pages(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'monitor.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -SQLITE_CACHE_KIB == -512
    finally:
        engine.dispose()
