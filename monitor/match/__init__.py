"""Deciding which items are about the Kosovo–Serbia dialogue, and why.

``Matcher.compile(profile)`` once, then ``matcher.match(title, text, language)`` per item;
the result is a ``monitor.types.MatchResult``. The profile (terms, topics, actors) comes from
the ``profile`` section of ``config.yaml`` so editors can change it without code.
"""

from monitor.match.engine import Matcher
from monitor.match.profile import MatchProfile

__all__ = ["MatchProfile", "Matcher"]
