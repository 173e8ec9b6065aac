"""Storage: the only sub-package that imports sqlmodel/SQLAlchemy.

Everything else talks to ``Repository`` (repo.py) and gets plain records from
``monitor.types`` back.
"""

from monitor.store.db import open_engine
from monitor.store.repo import PollRecord, Repository

__all__ = ["PollRecord", "Repository", "open_engine"]
