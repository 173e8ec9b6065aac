"""Deciding which items are about the Kosovo–Serbia dialogue, and why.

``Matcher.compile(profile)`` once, then ``matcher.match(title, text, language)`` per item;
the result is a ``monitor.types.MatchResult``. The profile (terms, topics, actors) comes from
the ``profile`` section of ``config.yaml`` so editors can change it without code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.match.engine import Matcher
    from monitor.match.profile import MatchProfile

__all__ = ["MatchProfile", "Matcher"]

# Imported on first use: the parse workers import ``monitor.match.fold`` (for fingerprints) and
# must not pay for the engine and pydantic (about 11 MB in each process).
_LAZY = {"Matcher": "monitor.match.engine", "MatchProfile": "monitor.match.profile"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
