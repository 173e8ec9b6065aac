"""The topic profile: the schema of the ``profile`` section of ``config.yaml``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class TermGroup(_Frozen):
    """A named thing (topic or actor) and the words that mention it, in every language."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    label: str
    terms: tuple[str, ...] = Field(min_length=1)


class MatchProfile(_Frozen):
    # An item is relevant when it names the dialogue and one of its parties,
    # or names one of the dialogue's own topics.
    dialogue_terms: tuple[str, ...] = Field(min_length=1)
    party_terms: tuple[str, ...] = Field(min_length=1)
    topics: tuple[TermGroup, ...] = ()
    actors: tuple[TermGroup, ...] = ()
    min_score: float = Field(2.0, ge=0)
