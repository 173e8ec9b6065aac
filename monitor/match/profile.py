"""The topic profile: the schema of the ``profile`` section of ``config.yaml``.

Editors change what counts as news about the dialogue here, without code. The README section
"Matching" documents every key; the rules that combine them live in ``engine.py``.

A *term* is one or more words, written as in the text, in any script and with or without
diacritics (``Vučić``, ``Vucic`` and ``Вучић`` are the same term):

- ``word*``: the word may be followed by one of the grammatical ``endings`` (declension:
  ``Prishtin*`` covers Prishtina, Prishtinë, Prishtinës, Prishtinën; ``dijalog*`` covers dijaloga,
  dijalogu, dijalogom). Nothing else: ``Kurti*`` does not match Kurtis or Kurtz.
- ``a ... b``: ``b`` follows ``a`` within a few words (``asocijacij* ... srpsk*``).
- Hyphens and punctuation inside a term are word breaks, as in the text.
- ``{term: BE, languages: [sq]}`` limits a term to items in those languages (``BE`` is the EU in
  Albanian but a verb in English).
- ``{term: BiH, case: exact}`` counts the term only where the text writes its letters in the same
  case (in either script): ``BiH`` is Bosnia and Herzegovina, ``bih`` a Serbian verb form; ``KiM``
  is Kosovo, ``s kim`` means "with whom".
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Side = Literal["kosovo", "serbia"]

_GAP = re.compile(r"\s*\.\.\.\s*")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class LanguageTerm(_Frozen):
    """A term limited to items in the given languages (ISO 639-1 codes: en, sq, sr), or to text that
    writes it in the same case (``case: exact``), or both."""

    term: str = Field(min_length=1)
    languages: tuple[str, ...] = ()
    case: Literal["any", "exact"] = "any"

    @model_validator(mode="after")
    def _limits_something(self) -> LanguageTerm:
        if not self.languages and self.case == "any":
            raise ValueError(
                f"term {self.term!r}: give 'languages' or 'case: exact', or write the term as a plain string"
            )
        if self.case == "exact" and (" " in self.term.strip() or "..." in self.term):
            raise ValueError(f"term {self.term!r}: 'case: exact' is for one word (an abbreviation such as BiH)")
        return self

    @field_validator("languages")
    @classmethod
    def _codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for code in value:
            if not re.fullmatch(r"[a-z]{2,3}", code):
                raise ValueError(f"expected language codes such as 'sq', 'sr' or 'en', got {code!r}")
        return value


Term = str | LanguageTerm


def term_text(term: Term) -> str:
    return term if isinstance(term, str) else term.term


def term_languages(term: Term) -> tuple[str, ...]:
    return () if isinstance(term, str) else term.languages


def term_case_exact(term: Term) -> bool:
    return not isinstance(term, str) and term.case == "exact"


def case_fits(term: str, written: str) -> bool:
    """Whether ``written`` (the text where an exact-case term was found) has the term's letters in
    the same case, letter by letter: ``BiH`` fits ``BiH`` and ``БиХ``, not ``bih`` or ``BIH``."""
    letters = term.rstrip("*")
    return len(written) >= len(letters) and all(
        a.isupper() == b.isupper() for a, b in zip(letters, written, strict=False) if a.isalpha()
    )


def _check_terms(terms: tuple[Term, ...]) -> tuple[Term, ...]:
    for term in terms:
        text = term_text(term)
        if not re.search(r"\w", text):
            raise ValueError(f"term {text!r} has no letters or digits")
        for piece in _GAP.split(text):
            if not piece:
                raise ValueError(f"term {text!r}: '...' must stand between words")
            if re.search(r"\*\w", piece) or "**" in piece:
                raise ValueError(f"term {text!r}: '*' may only end a word (write the stem, e.g. 'dijalog*')")
    return terms


class TermGroup(_Frozen):
    """A named thing (topic, actor, meeting level) and the terms that mention it, in every language."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    label: str
    terms: tuple[Term, ...] = Field(min_length=1)

    @field_validator("terms")
    @classmethod
    def _valid_terms(cls, value: tuple[Term, ...]) -> tuple[Term, ...]:
        return _check_terms(value)


class Topic(TermGroup):
    # strong: names the dialogue's own business (the Association, the Brussels agreement): enough
    # with a mention of Kosovo or Serbia. context: a subject that is dialogue news only in a
    # dialogue context (energy, licence plates, missing persons).
    strength: Literal["strong", "context"] = "strong"
    # Weaker mentions of the same topic, counted like a context topic ("the Association").
    context_terms: tuple[Term, ...] = ()

    @field_validator("context_terms")
    @classmethod
    def _valid_context_terms(cls, value: tuple[Term, ...]) -> tuple[Term, ...]:
        return _check_terms(value)


class Actor(TermGroup):
    # envoy: EU mediators of the dialogue; negotiator: chief negotiators; leader: presidents,
    # prime ministers, ministers; official: EU officials who speak about it among much else.
    role: Literal["envoy", "negotiator", "leader", "official"]
    side: Literal["kosovo", "serbia", "mediator"]


class Sides(_Frozen):
    """Words that name each party (country, capital, institutions). Actors count for their side."""

    kosovo: tuple[Term, ...] = Field(min_length=1)
    serbia: tuple[Term, ...] = Field(min_length=1)

    @field_validator("kosovo", "serbia")
    @classmethod
    def _valid_terms(cls, value: tuple[Term, ...]) -> tuple[Term, ...]:
        return _check_terms(value)


class Places(_Frozen):
    """Places of one party only (the north's towns, the crossings): naming one names that party for
    the item, as its frame ("a party is named in the item"), but not in a sentence: "the Serbs of
    Zvečan" is not both parties meeting."""

    kosovo: tuple[Term, ...] = ()
    serbia: tuple[Term, ...] = ()

    @field_validator("kosovo", "serbia")
    @classmethod
    def _valid_terms(cls, value: tuple[Term, ...]) -> tuple[Term, ...]:
        return _check_terms(value)


class Weights(_Frozen):
    """Points each kind of evidence adds to an item's score (see README, "Matching")."""

    dialogue_both_sides: float = 3.0
    dialogue_side_and_eu: float = 3.0
    dialogue_one_side: float = 2.5
    dialogue_eu: float = 2.0
    dialogue_in_item: float = 1.0
    dialogue_repeated: float = 0.5
    talks_both_sides: float = 2.0
    talks_both_sides_and_eu: float = 3.0
    talks_side_and_eu: float = 2.0
    talks_eu: float = 1.5
    both_sides: float = 1.0
    both_sides_and_eu: float = 2.0
    strong_topic: float = 3.0
    context_topic: float = 1.0
    envoy: float = 3.0
    negotiator: float = 1.5
    leader: float = 0.5
    official: float = 0.5
    meeting_level: float = 1.0


class MatchProfile(_Frozen):
    threshold: float = Field(3.0, gt=0, description="score from which an item is about the dialogue")
    # Grammatical endings a word written with a trailing '*' may take (all languages together).
    endings: tuple[str, ...] = ()
    # Words for the dialogue itself; they count only next to a party or the EU (see README).
    dialogue: tuple[Term, ...] = Field(min_length=1)
    sides: Sides
    places: Places = Places()
    # The EU and Brussels as the facilitator.
    eu: tuple[Term, ...] = ()
    # Meeting and negotiation words: "talks" naming both parties in one sentence is evidence.
    talks: tuple[Term, ...] = ()
    topics: tuple[Topic, ...] = ()
    actors: tuple[Actor, ...] = ()
    # Most specific first: the first level found is the item's meeting level.
    meeting_levels: tuple[TermGroup, ...] = ()
    # Other dialogues and negotiations (Armenia–Azerbaijan, Cyprus, Serbia's EU accession…): a
    # sentence naming one of them and not both parties gives no evidence.
    other_contexts: tuple[Term, ...] = ()
    # Fields that are never the talks, even naming both parties (sport: "UEFA keeps Kosovo and
    # Serbia from meeting"): a dialogue or talks word in such a sentence is not counted unless the
    # EU is there too, and a headline naming one sets it for the item.
    other_fields: tuple[Term, ...] = ()
    # Words next to a dialogue word that give it another sense (social dialogue, dialogue with
    # the opposition or with students): that mention is not counted.
    unrelated_senses: tuple[Term, ...] = ()
    sense_window: int = Field(40, ge=0, le=400, description="characters around a dialogue word")
    # Labels of page furniture ("Related:", "Lexo edhe:", "Pročitajte još:", "Tags:"): a line that
    # starts with one, and the headlines listed under it, are not read (see furniture.py).
    page_furniture: tuple[str, ...] = ()
    weights: Weights = Weights()

    @field_validator("dialogue", "eu", "talks", "other_contexts", "other_fields", "unrelated_senses")
    @classmethod
    def _valid_terms(cls, value: tuple[Term, ...]) -> tuple[Term, ...]:
        return _check_terms(value)

    @model_validator(mode="after")
    def _unique_ids(self) -> MatchProfile:
        for name, groups in (("topics", self.topics), ("actors", self.actors), ("meeting_levels", self.meeting_levels)):
            seen: set[str] = set()
            for group in groups:
                if group.id in seen:
                    raise ValueError(f"{name}: id {group.id!r} is used twice")
                seen.add(group.id)
        return self

    @field_validator("endings")
    @classmethod
    def _endings(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for ending in value:
            if not re.fullmatch(r"\w{1,6}", ending):
                raise ValueError(f"ending {ending!r}: expected 1 to 6 letters")
        return value
