"""Who an entry is: canonical URL, stable item key and content hash (pure functions).

- ``canonical_url``: the link as we show and store it: lower-case scheme and host, no user
  info, no default port, no fragment (``#!`` routes excepted), percent-escapes normalised, dot
  segments resolved, AMP variants folded (``/amp`` path segments, ``.amp.html``, ``?amp=1``,
  ``?outputType=amp``, Google AMP cache URLs), tracking parameters removed and the remaining
  parameters in a stable order.
- ``url_key``: what makes two links the same article: the canonical URL without its scheme,
  without a ``www.``/``m.``/``mobile.``/``amp.`` host prefix, and without a trailing slash,
  so http/https, mobile and AMP hosts of one site fold together.
- ``item_key``: url key → per-source guid → content hash, the first one available; or, for a
  feed whose GUIDs cannot be trusted (``KeyPolicy.LINK_DATE``), link and date.
- ``content_hash``: versioned; covers title and text only (dates, links and authors are
  excluded: feeds rewrite them without changing the story).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from urllib.parse import SplitResult, parse_qsl, quote, unquote_to_bytes, urlencode, urlsplit, urlunsplit

from monitor.types import FeedEntry, Item

CONTENT_HASH_VERSION = "v1"

TRACKING_PARAMS = frozenset(
    {
        # click identifiers of ad and social platforms
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "twclid", "ttclid",
        "li_fat_id", "srsltid", "rb_clickid", "s_kwcid", "_ga", "_gl",
        # newsletters and marketing automation
        "mc_cid", "mc_eid", "_hsenc", "_hsmi", "mkt_tok", "vero_id", "vero_conv", "oly_anon_id", "oly_enc_id",
        "sr_share", "__twitter_impression",
        # referral and campaign markers that outlets add to feed and share links
        "ref", "ref_src", "ref_url", "referrer", "ocid", "cmpid", "cmp", "intcmp", "icid", "spm", "share",
        "s_cid", "ito", "xtor", "wt_mc", "wt.mc_id", "trk", "soc_src", "soc_trk",
        "fb_action_ids", "fb_action_types", "fb_ref", "fb_source",
        "action_object_map", "action_type_map", "action_ref_map",
        # AMP switches: the same article in its AMP rendering
        "amp", "amp_js_v", "amp_gsa", "usqp",
    }
)  # fmt: skip
TRACKING_PREFIXES = ("utm_", "at_", "pk_", "hsa_", "ns_", "mtm_", "piwik_", "hmb_")
# Parameters that only mark the AMP rendering when they have one of these values.
_AMP_VALUED_PARAMS = {"output": {"amp"}, "outputtype": {"amp"}, "format": {"amp"}}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_FOLDED_HOST_PREFIXES = ("www.", "m.", "mobile.", "amp.")
_AMP_CACHE_SUFFIX = ".cdn.ampproject.org"
# Characters left unescaped in a path segment (RFC 3986 pchar minus '%', which is always escaped
# unless it starts a valid escape): decoding then re-encoding makes equal paths spell the same.
_PATH_SAFE = "!$&'()*+,;=:@-._~"


def canonical_url(url: str) -> str:
    """The link as stored and shown; ``canonical_url(canonical_url(u)) == canonical_url(u)``."""
    parts = urlsplit(_unwrap_amp_cache(url.strip()))
    scheme = parts.scheme.lower()
    host = _host(parts.hostname or "")
    port = _port(parts)
    netloc = host if port is None else f"{host}:{port}"
    path = _amp_path(_path(parts.path))
    query = urlencode(sorted(_kept_params(parts.query)), doseq=True)
    fragment = parts.fragment if parts.fragment.startswith("!") else ""
    return urlunsplit((scheme, netloc, path, query, fragment))


def _unwrap_amp_cache(url: str) -> str:
    """https://www-x-com.cdn.ampproject.org/c/s/www.x.com/a → https://www.x.com/a."""
    parts = urlsplit(url)
    if not (parts.hostname or "").endswith(_AMP_CACHE_SUFFIX):
        return url
    match = re.match(r"^/[cv]/(s/)?([^/]+)(/.*)?$", parts.path)
    if not match:
        return url
    scheme = "https" if match.group(1) else "http"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{match.group(2)}{match.group(3) or '/'}{query}"


def _host(hostname: str) -> str:
    host = hostname.lower().rstrip(".")
    if host and not host.isascii():
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    return f"[{host}]" if ":" in host else host


def _port(parts: SplitResult) -> int | None:
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: keep the URL usable, drop the port
        return None
    return port if port and port != _DEFAULT_PORTS.get(parts.scheme.lower()) else None


def _path(raw: str) -> str:
    segments: list[str] = []
    for segment in raw.split("/")[1:] if raw.startswith("/") else raw.split("/"):
        normal = quote(unquote_to_bytes(segment), safe=_PATH_SAFE)
        if normal == ".":
            continue
        if normal == "..":
            if segments:
                segments.pop()
            continue
        segments.append(normal)
    path = "/" + "/".join(segments)
    if raw.endswith(("/.", "/..")) and not path.endswith("/"):
        path += "/"
    return path


def _amp_path(path: str) -> str:
    """/a/b/amp, /a/b/amp/, /amp/a/b and /a/b.amp.html are the AMP renderings of /a/b(.html)."""
    path = re.sub(r"/amp/?$", "/", path)
    path = re.sub(r"^/amp(/.+)$", r"\1", path)
    return re.sub(r"\.amp(\.[a-z0-9]+)?$", r"\1", path)


def _kept_params(query: str) -> list[tuple[str, str]]:
    kept = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        lower = key.lower()
        if lower in TRACKING_PARAMS or lower.startswith(TRACKING_PREFIXES):
            continue
        if value.lower() in _AMP_VALUED_PARAMS.get(lower, ()):
            continue
        kept.append((key, value))
    return kept


def url_key(url: str) -> str:
    """Equal for every link to the same article; ``//host/path?query``."""
    parts = urlsplit(canonical_url(url))
    host = parts.netloc
    for prefix in _FOLDED_HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") > 1:
            host = host[len(prefix) :]
            break
    path = parts.path.rstrip("/") or "/"
    query = f"?{parts.query}" if parts.query else ""
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return f"//{host}{path}{query}{fragment}"


def _normalised(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def content_hash(title: str, text: str) -> str:
    digest = hashlib.sha256(f"{_normalised(title)}\n{_normalised(text)}".encode()).hexdigest()
    return f"{CONTENT_HASH_VERSION}:{digest[:32]}"


# ---------------------------------------------------------------- GUID trust per feed


class KeyPolicy(StrEnum):
    """How the items of one feed are keyed."""

    # Canonical link first, then the feed's GUID; a known GUID in the same feed means a known item.
    URL_GUID = "url+guid"
    # The feed's GUIDs cannot be trusted: ignore them and key by link and published date.
    LINK_DATE = "link+date"


# More than this share of a poll's entries with an empty or repeated GUID marks the feed.
GUID_PROBLEM_SHARE = 0.05
# ... and at least this many entries: one link-only entry in a tiny feed is not a broken feed.
GUID_PROBLEM_MIN_ENTRIES = 2


@dataclass(frozen=True, slots=True)
class GuidCheck:
    """What one poll showed about a feed's GUIDs."""

    entries: int
    empty: int
    repeated: int  # entries whose GUID an earlier entry of the same poll already had

    @property
    def problems(self) -> int:
        return self.empty + self.repeated

    @property
    def share(self) -> float:
        return self.problems / self.entries if self.entries else 0.0


def check_guids(entries: Sequence[FeedEntry]) -> GuidCheck:
    guids = [e.guid.strip() if e.guid else "" for e in entries]
    empty = sum(1 for g in guids if not g)
    counts = Counter(g for g in guids if g)
    repeated = sum(n - 1 for n in counts.values())
    return GuidCheck(len(guids), empty, repeated)


def choose_key_policy(current: KeyPolicy, check: GuidCheck, max_share: float = GUID_PROBLEM_SHARE) -> KeyPolicy:
    """Once a feed's GUIDs proved untrustworthy it stays keyed by link and date.

    Going back would give the feed's current items new keys, so they would be stored again.
    """
    if current is KeyPolicy.LINK_DATE:
        return current
    if check.problems >= GUID_PROBLEM_MIN_ENTRIES and check.share > max_share:
        return KeyPolicy.LINK_DATE
    return KeyPolicy.URL_GUID


def _http_link(entry: FeedEntry) -> str | None:
    return entry.link if entry.link and urlsplit(entry.link).scheme.lower() in ("http", "https") else None


def item_key(source: str, entry: FeedEntry, digest: str, policy: KeyPolicy = KeyPolicy.URL_GUID) -> str:
    link = _http_link(entry)
    if policy is KeyPolicy.LINK_DATE:
        if link and entry.published:
            return f"ld:{source}:{url_key(link)}@{_minute(entry.published)}"
        if link:
            return "url:" + url_key(link)
        return f"hash:{source}:{digest}"
    if link:
        return "url:" + url_key(link)
    if entry.guid:
        return f"guid:{source}:{entry.guid}"
    return f"hash:{source}:{digest}"


def legacy_key(item: Item) -> str | None:
    """The key a link+date item had before its feed was switched to link+date keys."""
    if not item.key.startswith("ld:") or not item.url:
        return None
    return "url:" + url_key(item.url)


def _minute(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def identify(
    source: str, entry: FeedEntry, default_language: str | None, policy: KeyPolicy = KeyPolicy.URL_GUID
) -> Item:
    """A parsed entry with its identity, ready to store."""
    digest = content_hash(entry.title, entry.text)
    link = _http_link(entry)
    return Item(
        source=source,
        key=item_key(source, entry, digest, policy),
        url=canonical_url(link) if link else None,
        # An untrusted GUID must not make a new item look known (see Repository.triage).
        guid=entry.guid if policy is KeyPolicy.URL_GUID else None,
        title=entry.title,
        text=entry.text,
        published=entry.published,
        language=default_language or entry.language,
        content_hash=digest,
        author=entry.author,
    )
