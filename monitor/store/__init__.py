"""Storage: the only sub-package that imports sqlmodel/SQLAlchemy.

Everything else talks to ``Repository`` (repo.py) and gets plain records from
``monitor.types`` back.
"""

from monitor.store.db import open_engine
from monitor.store.repo import Repository

__all__ = ["Repository", "open_engine"]
