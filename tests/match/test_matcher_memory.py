"""The compiled profile is held by every process that matches (``monitor poll``, the daemon): its size counts."""

from __future__ import annotations

import gc
import tracemalloc

from monitor.config import load_config
from monitor.match import Matcher
from tests.support.configs import DEFAULT_CONFIG

# The shipped profile compiled to 33 MB when each inflected form of a first word had its own
# table of next words; shared, it is about 11 MB.
MAX_COMPILED_BYTES = 16 * 1024 * 1024


def test_the_shipped_profile_compiles_to_a_matcher_of_bounded_size() -> None:
    profile = load_config(DEFAULT_CONFIG).profile
    gc.collect()
    tracemalloc.start()
    try:
        matcher = Matcher.compile(profile)
        matcher.match("Kosovo and Serbia chief negotiators meet in Brussels", "", "en")
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < MAX_COMPILED_BYTES, f"the compiled matcher holds {held / 2**20:.1f} MB"
