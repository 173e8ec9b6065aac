"""OPML 2.0 source lists, read and written.

Reading uses defusedxml: an OPML file comes from elsewhere (another reader, a colleague), and
entity expansion ("billion laughs"), external entities and DTD tricks are refused with a
``ParseError`` instead of eating memory or reading local files.

Written files are plain OPML 2.0 that any reader imports (feeds as ``type="rss"`` outlines
with ``xmlUrl``, grouped by language; listing pages as ``type="link"`` outlines). What only
dialogue-monitor knows (the source's name, origin, selectors…) travels in attributes of our
own namespace, which other readers ignore and ``read_opml`` reads back.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException

from monitor.errors import ParseError

NAMESPACE = "https://github.com/dialogue-monitor/dialogue-monitor/opml/1"
_NS = f"{{{NAMESPACE}}}"
LANGUAGE_NAMES = {"en": "English", "sq": "Albanian", "sr": "Serbian"}


@dataclass(frozen=True, slots=True)
class Outline:
    """One source as an OPML outline: the standard attributes plus our own (``extra``)."""

    title: str
    url: str
    kind: str = "feed"  # feed (type="rss", xmlUrl) | page (type="link", url)
    html_url: str | None = None
    language: str | None = None
    description: str | None = None
    # Attributes of our namespace, without the prefix: name, origin, enabled, full_text, selectors…
    extra: dict[str, str] = field(default_factory=dict)
    category: str | None = None  # the titles of the enclosing outlines, "News/Balkans"


def read_opml(data: bytes) -> list[Outline]:
    """Every feed or page outline of an OPML document, at any depth, in document order."""
    try:
        root = SafeElementTree.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise ParseError(f"the OPML file uses XML features refused for safety ({type(exc).__name__})") from None
    except ElementTree.ParseError as exc:
        raise ParseError(f"not well-formed XML: {exc}") from None
    if root.tag != "opml":
        raise ParseError(f"not an OPML document: the root element is <{root.tag}>, expected <opml>")
    body = root.find("body")
    if body is None:
        raise ParseError("the OPML document has no <body>")
    return list(_outlines(body, ()))


def _outlines(parent: ElementTree.Element, path: tuple[str, ...]) -> Iterator[Outline]:
    for node in parent.findall("outline"):
        title = (node.get("title") or node.get("text") or "").strip()
        kind = (node.get("type") or "").strip().lower()
        url = (node.get("xmlUrl") or "").strip()
        extra = {key[len(_NS) :]: value for key, value in node.attrib.items() if key.startswith(_NS)}
        category = "/".join(path) or None
        if url:
            yield _outline(node, title, url, "feed", extra, category)
        elif kind == "link" and (node.get("url") or "").strip() and "links" in extra:
            yield _outline(node, title, (node.get("url") or "").strip(), "page", extra, category)
        yield from _outlines(node, (*path, title) if title else path)


def _outline(
    node: ElementTree.Element, title: str, url: str, kind: str, extra: dict[str, str], category: str | None
) -> Outline:
    return Outline(
        title=title or url,
        url=url,
        kind=kind,
        html_url=(node.get("htmlUrl") or "").strip() or None,
        language=(node.get("language") or "").strip() or None,
        description=(node.get("description") or "").strip() or None,
        extra=extra,
        category=category,
    )


def write_opml(title: str, outlines: Sequence[Outline], created: datetime) -> str:
    """An OPML 2.0 document, outlines grouped by language (the order within a group is kept)."""
    ElementTree.register_namespace("monitor", NAMESPACE)
    root = ElementTree.Element("opml", {"version": "2.0"})
    head = ElementTree.SubElement(root, "head")
    ElementTree.SubElement(head, "title").text = title
    ElementTree.SubElement(head, "dateCreated").text = format_datetime(created)
    ElementTree.SubElement(head, "docs").text = "https://opml.org/spec2.opml"
    body = ElementTree.SubElement(root, "body")
    groups: dict[str, ElementTree.Element] = {}
    for outline in outlines:
        language = outline.language or ""
        group = groups.get(language)
        if group is None:
            label = f"{LANGUAGE_NAMES.get(language, language)} ({language})" if language else "Other"
            group = groups[language] = ElementTree.SubElement(body, "outline", {"text": label, "title": label})
        ElementTree.SubElement(group, "outline", _attributes(outline))
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"


def _attributes(outline: Outline) -> dict[str, str]:
    attributes = {"text": outline.title, "title": outline.title}
    if outline.kind == "page":
        attributes |= {"type": "link", "url": outline.url}
    else:
        attributes |= {"type": "rss", "xmlUrl": outline.url}
    if outline.html_url:
        attributes["htmlUrl"] = outline.html_url
    if outline.language:
        attributes["language"] = outline.language
    if outline.description:
        attributes["description"] = outline.description
    attributes |= {_NS + key: value for key, value in outline.extra.items()}
    return attributes
