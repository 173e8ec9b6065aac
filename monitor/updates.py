"""What to do with a stored article whose text changed (pure policy, no I/O).

Breaking stories are updated several times; a stored item is rewritten with the newer text and its
revision count goes up. Three limits:

- a cap (``max_revisions``): some feeds change every item on every fetch (a view counter, a "5 minutes
  ago" in the summary); after that many revisions an item is left as it is, so such a feed cannot
  make the store churn forever;
- no repeat alerts: an update is news again only when the new text mentions the dialogue and the
  stored version did not (``alert_on_new_mention``; off means the match is stored and shown, but
  not sent). An item that already had a match keeps it as it is;
- copies are not revisions: the same article in another source's feed (an outlet's main and section
  feeds, an aggregator) often carries another text (an excerpt, the full text, a caption more).
  Taken as revisions, the two versions would overwrite each other on every poll of either feed
  until the cap. Only the source that stored the item revises it; another source's copy is applied
  only when it mentions the dialogue and the stored version did not, so no mention is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor.types import ItemUpdate, KnownItem, MatchResult


@dataclass(frozen=True, slots=True)
class UpdateRules:
    """The ``updates:`` section of config.yaml."""

    max_revisions: int = 20
    alert_on_new_mention: bool = True


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    updates: tuple[ItemUpdate, ...]
    capped: int  # changed items left alone because they reached ``max_revisions``
    copies: int = 0  # other sources' versions left alone: copies, not revisions


def plan_updates(changed: Sequence[tuple[KnownItem, MatchResult]], rules: UpdateRules) -> UpdatePlan:
    updates: list[ItemUpdate] = []
    capped = copies = 0
    for known, match in changed:
        mention_added = match.relevant and not known.matched
        if not mention_added and known.stored_source not in (None, known.item.source):
            copies += 1
            continue
        if known.revisions >= rules.max_revisions:
            capped += 1
            continue
        updates.append(
            ItemUpdate(
                item_id=known.stored_id,
                item=known.item,
                revision=known.revisions + 1,
                new_match=match if mention_added else None,
                alert=mention_added and rules.alert_on_new_mention,
            )
        )
    return UpdatePlan(tuple(updates), capped, copies)
