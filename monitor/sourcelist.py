"""Source lists in and out of ``config.yaml``: OPML outlines, ready-to-paste YAML entries,
names for new sources, and adding entries to the file without losing its comments (pure).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml

from monitor.config import SourceConfig
from monitor.identity import url_key
from monitor.match.fold import plain
from monitor.parse.opml import Outline
from monitor.types import LANGUAGES, ORIGINS

_SELECTOR_KEYS = {
    "links": "links",
    "title": "title_selector",
    "date": "date_selector",
    "article_text": "article_text",
    "article_date": "article_date",
}


def to_outline(source: SourceConfig) -> Outline:
    extra = {"name": source.name, "origin": source.origin}
    if not source.enabled:
        extra["enabled"] = "false"
    if source.full_text:
        extra["full_text"] = "true"
    if source.interval_minutes:
        extra["interval_minutes"] = f"{source.interval_minutes:g}"
    if source.selectors:
        for key, attribute in _SELECTOR_KEYS.items():
            value = getattr(source.selectors, key)
            if value:
                extra[attribute] = value
    return Outline(
        title=source.title,
        url=source.url,
        kind=source.kind,
        html_url=source.url if source.kind == "page" else None,
        language=source.language,
        description=source.note,
        extra=extra,
    )


@dataclass(frozen=True, slots=True)
class Imported:
    """The result of reading an OPML list against the current configuration."""

    entries: list[dict[str, Any]]  # new sources, as config.yaml entries
    duplicates: list[tuple[Outline, str]]  # outlines already configured, with the source's name
    problems: list[str]  # outlines that cannot become sources, and why


def import_outlines(
    outlines: Sequence[Outline],
    existing: Sequence[SourceConfig],
    default_language: str | None = None,
    default_origin: str | None = None,
) -> Imported:
    known = {url_key(s.url): s.name for s in existing}
    names = {s.name for s in existing}
    entries: list[dict[str, Any]] = []
    duplicates: list[tuple[Outline, str]] = []
    problems: list[str] = []
    for outline in outlines:
        key = url_key(outline.url)
        if key in known:
            duplicates.append((outline, known[key]))
            continue
        if urlsplit(outline.url).scheme not in ("http", "https"):
            problems.append(f"{outline.title!r}: {outline.url!r} is not an http(s) URL")
            continue
        language = _language(outline.language) or default_language
        origin = outline.extra.get("origin") if outline.extra.get("origin") in ORIGINS else default_origin
        missing = [what for what, value in (("language", language), ("origin", origin)) if not value]
        if missing:
            problems.append(
                f"{outline.title!r} ({outline.url}): no {' and no '.join(missing)} in the file; "
                f"pass {' and '.join('--' + m for m in missing)} for outlines without one"
            )
            continue
        name = unique_name(outline.extra.get("name") or slug(outline.title, outline.url), names)
        names.add(name)
        known[key] = name
        entries.append(_entry(outline, name, language or "", origin or ""))
    return Imported(entries, duplicates, problems)


def _entry(outline: Outline, name: str, language: str, origin: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "title": outline.title,
        "kind": outline.kind,
        "url": outline.url,
        "language": language,
        "origin": origin,
    }
    extra = outline.extra
    if extra.get("enabled") == "false":
        entry["enabled"] = False
    interval = _positive_number(extra.get("interval_minutes"))
    if interval is not None:
        entry["interval_minutes"] = int(interval) if interval.is_integer() else interval
    if extra.get("full_text") == "true":
        entry["full_text"] = True
    selectors = {key: extra[attribute] for key, attribute in _SELECTOR_KEYS.items() if extra.get(attribute)}
    if selectors:
        entry["selectors"] = selectors
    if outline.description:
        entry["note"] = outline.description
    return entry


def _positive_number(value: str | None) -> float | None:
    try:
        number = float(value or "")
    except ValueError:
        return None
    return number if 0 < number < float("inf") else None


def _language(value: str | None) -> str | None:
    primary = (value or "").strip().lower().replace("_", "-").split("-")[0]
    return primary if primary in LANGUAGES else None


def slug(title: str, url: str = "") -> str:
    """A source name from a title: 'Radio Evropa e Lirë' → 'radio-evropa-e-lire'; Cyrillic transliterated."""
    name = re.sub(r"[^a-z0-9]+", "-", plain(title)).strip("-")[:40].strip("-")
    if not name:
        host = (urlsplit(url).hostname or "source").removeprefix("www.")
        name = re.sub(r"[^a-z0-9]+", "-", host).strip("-")[:40] or "source"
    return name


def unique_name(name: str, taken: set[str]) -> str:
    name = slug(name) if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,63}", name) else name
    candidate, counter = name, 2
    while candidate in taken:
        candidate = f"{name[:60]}-{counter}"
        counter += 1
    return candidate


def yaml_entries(entries: Iterable[Mapping[str, Any]], indent: str = "  ") -> str:
    """Source entries as config.yaml writes them: one flow mapping per line."""
    lines = []
    for entry in entries:
        flow = yaml.safe_dump(dict(entry), default_flow_style=True, allow_unicode=True, sort_keys=False, width=10_000)
        lines.append(f"{indent}- {flow.strip()}")
    return "\n".join(lines) + ("\n" if lines else "")


class SourcesBlockNotFound(ValueError):
    pass


def insert_entries(config_text: str, entries: Sequence[Mapping[str, Any]]) -> str:
    """config.yaml's text with the entries appended to its ``sources:`` list, comments kept.

    They go after the last item of the list (before the comments and blank lines that lead to
    the next section), with the indentation the list already uses. An empty list
    (``sources: []`` or a bare ``sources:``) becomes a block list of the entries.
    """
    lines = config_text.splitlines(keepends=True)
    start = next(
        (i for i, line in enumerate(lines) if re.match(r"sources:\s*(\[\s*\])?\s*(#.*)?$", line.rstrip("\n"))), None
    )
    if start is None:
        raise SourcesBlockNotFound("no top-level 'sources:' list written one item per line was found")
    last = start
    for index in range(start + 1, len(lines)):
        line = lines[index]
        if not line.strip() or line.startswith("#"):  # blank, or a comment that may lead to the next section
            continue
        if not line[0].isspace() and not line.startswith("-"):  # the next top-level key
            break
        if not line.lstrip().startswith("#"):
            last = index
    first_item = next((ln for ln in lines[start + 1 : last + 1] if re.match(r"\s*- ", ln)), None)
    if first_item is None:
        if last != start:
            raise SourcesBlockNotFound("the 'sources:' list is not written one '- …' item per line")
        lines[start] = "sources:\n"
        indent = "  "
    else:
        indent = first_item[: len(first_item) - len(first_item.lstrip())]
    before = "".join(lines[: last + 1])
    if before and not before.endswith("\n"):
        before += "\n"
    return before + yaml_entries(entries, indent) + "".join(lines[last + 1 :])
