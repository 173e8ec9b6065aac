"""Dates as web pages write them, in English, Albanian and Serbian (Latin and Cyrillic) → UTC.

Listing pages and article bylines show dates for people: ``20 nëntor 2026``, ``19. новембар
2026. 18:05``, ``21.11.2026``, ``November 21, 2026``, or machine forms in attributes
(``2026-11-21T14:30:00+01:00``). Times without a zone are read in ``LOCAL_ZONE``: every outlet
in scope (Pristina, Belgrade, Brussels) publishes in Central European Time. Relative dates
("2 hours ago") are not guessed at: the article page or the first-seen time is better.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, tzinfo
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

from monitor.parse.normalize import FUTURE_TOLERANCE

LOCAL_ZONE = ZoneInfo("Europe/Belgrade")

_MONTH_FORMS: dict[int, tuple[str, ...]] = {
    1: ("january", "jan", "janar", "janarit", "januar", "januara", "јануар", "јануара", "јан"),
    2: ("february", "feb", "shkurt", "shkurtit", "februar", "februara", "фебруар", "фебруара", "феб"),
    3: ("march", "mar", "mars", "marsit", "mart", "marta", "март", "марта", "мар"),
    4: ("april", "apr", "prill", "prillit", "prilli", "aprila", "април", "априла", "апр"),
    5: ("may", "maj", "majit", "maja", "мај", "маја"),
    6: ("june", "jun", "qershor", "qershorit", "juna", "јун", "јуна"),
    7: ("july", "jul", "korrik", "korrikut", "jula", "јул", "јула"),
    8: ("august", "aug", "gusht", "gushtit", "avgust", "avgusta", "август", "августа", "авг"),
    9: ("september", "sep", "sept", "shtator", "shtatorit", "septembar", "septembra", "септембар", "септембра", "сеп"),
    10: ("october", "oct", "tetor", "tetorit", "oktobar", "oktobra", "октобар", "октобра", "окт"),
    11: ("november", "nov", "nentor", "nentorit", "novembar", "novembra", "новембар", "новембра", "нов"),
    12: ("december", "dec", "dhjetor", "dhjetorit", "decembar", "decembra", "децембар", "децембра", "дец"),
}  # fmt: skip
MONTHS = {form: number for number, forms in _MONTH_FORMS.items() for form in forms}

_WORD = r"[^\W\d_]+"
_DAY_MONTH_YEAR = re.compile(rf"(?<!\d)(\d{{1,2}})\.?\s+({_WORD})\.?,?\s+(\d{{4}})(?!\d)")
_MONTH_DAY_YEAR = re.compile(rf"({_WORD})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})(?!\d)")
_NUMERIC = re.compile(r"(?<!\d)(\d{1,2})[./](\d{1,2})[./]\s?(\d{4})(?!\d)")
_ISO_DAY = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_TIME_AFTER = re.compile(r"(?<!\d)([01]?\d|2[0-3])[:.h]([0-5]\d)(?![\d.]\d)(\s*[ap]\.?m\b)?", re.IGNORECASE)
_TIME_BEFORE = re.compile(r"(?<!\d)([01]?\d|2[0-3]):([0-5]\d)(?!\d)")
_ISO_FULL = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")


def parse_date_text(value: str | None, now: datetime | None = None, zone: tzinfo = LOCAL_ZONE) -> datetime | None:
    """A date written on a page → aware UTC datetime; None when there is none or it is implausible."""
    if not value or not value.strip():
        return None
    text = " ".join(value.split())
    when = _machine_date(text, zone) or _human_date(text, zone)
    if when is None:
        return None
    now = now or datetime.now(UTC)
    if when > now + FUTURE_TOLERANCE or when.year < 1990:
        return None
    return when.astimezone(UTC)


def _machine_date(text: str, zone: tzinfo) -> datetime | None:
    iso = _ISO_FULL.search(text)
    if iso:
        stamp = iso.group(0).replace("Z", "+00:00")
        stamp = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", stamp)
        try:
            parsed = datetime.fromisoformat(stamp)
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
    if "," in text[:5] or re.match(r"^[A-Za-z]{3},", text):
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
    return None


def _human_date(text: str, zone: tzinfo) -> datetime | None:
    day_month_year = _find_day(text)
    if day_month_year is None:
        return None
    (year, month, day), start, end = day_month_year
    hour, minute = 0, 0
    # "21.11.2026 18:05" or "18:05, 21 November 2026"; never the digits of the date itself.
    clock = _TIME_AFTER.search(text, end) or _TIME_BEFORE.search(text[:start])
    if clock:
        hour, minute = int(clock.group(1)), int(clock.group(2))
        suffix = (clock.groups()[2:3] or [None])[0]
        if suffix and suffix.strip().lower().startswith("p") and hour < 12:
            hour += 12
    try:
        return datetime(year, month, day, hour, minute, tzinfo=zone)
    except ValueError:
        return None


def _find_day(text: str) -> tuple[tuple[int, int, int], int, int] | None:
    """(year, month, day) and where it was written."""
    iso = _ISO_DAY.search(text)
    if iso:
        return (int(iso.group(1)), int(iso.group(2)), int(iso.group(3))), iso.start(), iso.end()
    numeric = _NUMERIC.search(text)
    if numeric:
        return (int(numeric.group(3)), int(numeric.group(2)), int(numeric.group(1))), numeric.start(), numeric.end()
    for match in _DAY_MONTH_YEAR.finditer(text):
        month = _month(match.group(2))
        if month:
            return (int(match.group(3)), month, int(match.group(1))), match.start(), match.end()
    for match in _MONTH_DAY_YEAR.finditer(text):
        month = _month(match.group(1))
        if month:
            return (int(match.group(3)), month, int(match.group(2))), match.start(), match.end()
    return None


def _month(word: str) -> int | None:
    folded = word.casefold()
    # Albanian ë and ç are often typed as e and c; Latin diacritics never change a month name.
    if not any("\u0400" <= ch <= "\u04ff" for ch in folded):
        folded = "".join(ch for ch in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(ch))
    return MONTHS.get(folded)
