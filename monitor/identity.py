"""Who an entry is: canonical URL, stable item key and content hash (pure functions).

- ``canonical_url``: the link as we show and store it: lower-case scheme and host, no default
  port, no fragment, no tracking parameters, parameters in a stable order.
- ``url_key``: what makes two links the same article: the canonical URL without its scheme,
  without ``www.``/``m.``, and without a trailing slash, so http/https and mobile variants fold.
- ``item_key``: url key → per-source guid → content hash, the first one available.
- ``content_hash``: versioned; covers title and text only (dates, links and authors are
  excluded: feeds rewrite them without changing the story).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import unicodedata
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from monitor.types import FeedEntry, Item

CONTENT_HASH_VERSION = "v1"

TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid",
        "ref", "ref_src", "ref_url", "_hsenc", "_hsmi", "mkt_tok", "ocid", "cmpid", "spm", "share",
        "s_cid", "ns_source", "ns_mchannel", "ns_campaign", "ito", "xtor", "amp", "output",
    }
)  # fmt: skip
TRACKING_PREFIXES = ("utm_", "at_", "pk_", "hsa_")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_FOLDED_HOST_PREFIXES = ("www.", "m.", "mobile.", "amp.")


def canonical_url(url: str) -> str:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if host and not host.isascii():
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    port = parts.port if parts.port and parts.port != _DEFAULT_PORTS.get(scheme) else None
    netloc = f"{host}:{port}" if port else host
    path = quote(unquote(parts.path), safe="/:@!$&'()*+,;=-._~%") or "/"
    path = re.sub(r"/amp/?$", "/", path)
    query = urlencode(sorted(_kept_params(parts.query)), doseq=True)
    return urlunsplit((scheme, netloc, path, query, ""))


def _kept_params(query: str) -> list[tuple[str, str]]:
    return [
        (k, v)
        for k, v in parse_qsl(query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
    ]


def url_key(url: str) -> str:
    parts = urlsplit(canonical_url(url))
    host = parts.netloc
    for prefix in _FOLDED_HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") > 1:
            host = host[len(prefix) :]
            break
    path = parts.path.rstrip("/") or "/"
    return f"//{host}{path}" + (f"?{parts.query}" if parts.query else "")


def _normalised(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def content_hash(title: str, text: str) -> str:
    digest = hashlib.sha256(f"{_normalised(title)}\n{_normalised(text)}".encode()).hexdigest()
    return f"{CONTENT_HASH_VERSION}:{digest[:32]}"


def item_key(source: str, entry: FeedEntry, digest: str) -> str:
    if entry.link and urlsplit(entry.link).scheme in ("http", "https"):
        return "url:" + url_key(entry.link)
    if entry.guid:
        return f"guid:{source}:{entry.guid}"
    return f"hash:{source}:{digest}"


def identify(source: str, entry: FeedEntry, default_language: str | None) -> Item:
    """A parsed entry with its identity, ready to store."""
    digest = content_hash(entry.title, entry.text)
    link = entry.link if entry.link and urlsplit(entry.link).scheme in ("http", "https") else None
    return Item(
        source=source,
        key=item_key(source, entry, digest),
        url=canonical_url(link) if link else None,
        guid=entry.guid,
        title=entry.title,
        text=entry.text,
        published=entry.published,
        language=default_language or entry.language,
        content_hash=digest,
        author=entry.author,
    )
