"""Migrate the database whose URL is read from standard input: ``main([BUSY_TIMEOUT_SECONDS])``.

The child process of ``monitor.store.db.migrate_in_child``: it exits once the schema is at the
newest revision (status 0), or prints the reason on the last line of its standard error (status 1).
"""

from __future__ import annotations

import sys

from monitor.errors import StorageError
from monitor.store.db import open_engine
from monitor.store.migrate import upgrade


def main(argv: list[str]) -> int:
    engine = open_engine(sys.stdin.read().strip(), migrate=False, busy_timeout_seconds=float(argv[0]))
    try:
        upgrade(engine)
    except StorageError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
