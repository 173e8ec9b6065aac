"""The fingerprint functions: script and diacritic folding, MinHash, band keys (pure)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.cluster import (
    BANDS,
    band_keys,
    estimated_jaccard,
    fingerprint,
    jaccard,
    overlap,
    words,
)

LEAD = (
    "Kosovo's chief negotiator Besnik Bislimi and Serbia's chief negotiator Petar Petković met in Brussels on "
    "Tuesday for a new round of the EU-facilitated dialogue, hosted by the EU special representative."
)


def test_words_fold_case_script_and_diacritics_together() -> None:
    forms = [
        "Вучић и Петковић у Бриселу",
        "Vučić i Petković u Briselu",
        "Vucic i Petkovic u Briselu",
        "VUČIĆ I PETKOVIĆ U BRISELU",
    ]
    assert {" ".join(words(f)) for f in forms} == {"vucic i petkovic u briselu"}
    assert words("Ђурић") == words("Đurić") == words("Djuric") == ["djuric"]
    assert words("Љубљана, Њујорк, Џеко") == ["ljubljana", "njujork", "dzeko"]
    assert words("Kryenegociatorët në Bruksel (2023)") == ["kryenegociatoret", "ne", "bruksel", "2023"]


def test_too_short_texts_get_no_fingerprint() -> None:
    assert fingerprint("Live", "Updates follow.") is None
    assert fingerprint("", "") is None
    assert fingerprint("Headline", LEAD) is not None


def test_a_copy_in_the_other_script_has_the_same_fingerprint() -> None:
    latin = (
        "Petković je posle sastanka u Briselu rekao da je srpska delegacija ponovo zatražila formiranje Zajednice "
        "srpskih opština bez novih uslova, i da Beograd neće prihvatiti statut koji je svodi na nevladinu organizaciju."
    )
    cyrillic = (
        "Петковић је после састанка у Бриселу рекао да је српска делегација поново затражила формирање Заједнице "
        "српских општина без нових услова, и да Београд неће прихватити статут који је своди на невладину организацију."
    )
    a, b = fingerprint("", latin), fingerprint("Друкчији наслов", cyrillic)
    assert a is not None and b is not None
    assert a == b, "the headline is left out when the text is long enough; the scripts fold together"


def test_band_keys_are_pinned() -> None:
    """Band keys are stored: a change of the hash family must be a deliberate FINGERPRINT_VERSION bump."""
    fp = fingerprint("", LEAD)
    assert fp is not None
    keys = band_keys(fp)
    assert len(keys) == BANDS and len(set(keys)) == BANDS
    assert all(-(2**63) <= k < 2**63 for k in keys)
    assert keys[:3] == (-5069288420492234742, 5732158601666715054, -2178655369457618732)  # FINGERPRINT_VERSION 2


_VOCABULARY = (
    "kosovo serbia dialogue brussels meeting chief negotiator talks agreement eu envoy association municipalities "
    "energy missing persons plates border police statement government minister president said would on the of"
)
_word = st.sampled_from(_VOCABULARY.split(" "))


@settings(max_examples=60, deadline=None)
@given(st.lists(_word, min_size=30, max_size=80), st.lists(_word, min_size=30, max_size=80), st.integers(0, 60))
def test_the_minhash_estimate_is_close_to_the_exact_jaccard(common: list[str], other: list[str], cut: int) -> None:
    """40 hash functions: the estimate stays within 4 standard errors (0.32) of the exact value."""
    a = fingerprint("", " ".join(common))
    b = fingerprint("", " ".join(common[:cut] + other))
    if a is None or b is None:
        return
    assert abs(estimated_jaccard(a, b) - jaccard(a.shingles, b.shingles)) <= 0.32


def test_overlap_is_containment_of_the_shorter_lead() -> None:
    full = fingerprint("", LEAD + " Neither side spoke to journalists after the meeting, which lasted five hours.")
    summary = fingerprint("", LEAD)
    assert full is not None and summary is not None
    assert overlap(summary.shingles, full.shingles) == 1.0
    assert jaccard(summary.shingles, full.shingles) < 1.0
