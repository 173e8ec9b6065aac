"""The feedparser test corpus (about 2,100 real feed files) in ../shared/corpora/feedparser/.

Read from there, never copied into the repository. ``MONITOR_FEED_CORPUS`` points elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("MONITOR_FEED_CORPUS", ROOT.parent / "shared" / "corpora" / "feedparser"))


def corpus_files(*parts: str) -> Iterator[Path]:
    """Every file under the corpus (or a part of it, e.g. ``"wellformed"``), in a stable order."""
    base = CORPUS.joinpath(*parts)
    if not base.is_dir():
        raise FileNotFoundError(f"feed corpus not found at {base}; set MONITOR_FEED_CORPUS to its directory")
    yield from sorted(p for p in base.rglob("*") if p.is_file() and p.name != "LICENSE")
