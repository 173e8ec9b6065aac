"""A deterministic, seeded feed farm: N feeds x M items, RSS 2.0 and Atom, with ground truth.

Three feed styles, as the outlets in sources.md publish them:

- ``wordpress``: RSS 2.0 with a CDATA excerpt, the full article in ``content:encoded``
  (figures, links, embeds), ``dc:creator``, categories and ``?p=`` guids;
- ``plain``: RSS 2.0 with an entity-escaped HTML description, permalink guids, enclosures,
  and now and then an item with no link at all (keyed by its guid);
- ``atom``: Atom 1.0 with ``tag:`` ids, HTML summaries and (for half of the feeds) content.

About 3% of the items are about the dialogue (``texts.dialogue_story``) in the feed's language
form (en, sq, sr-Latn, sr-Cyrl); some items are cross-posts of another feed's article whose link
carries ``utm_*`` parameters, so they must be stored once. Every link and link-less guid carries
the article id (``-a123``), so the check reads the truth back without using the code under test.

Cycle 2: a share of the feeds (10% by default) gained items (newest first, the oldest drop out of
the window, later mtime); every other file stays byte-identical with the same mtime, so nginx
answers 304 to a conditional request.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from bench.texts import Story, dialogue_story, filler_story

# The farm's "now": fixed so that every run serves the same bytes. Item dates lie before it.
FARM_NOW = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
CYCLE2_DELAY = timedelta(hours=1)
STYLES = ("wordpress", "plain", "atom")
_STYLE_WEIGHTS = (4, 3, 3)
# 4 en : 3 sq : 2 sr-Latn : 1 sr-Cyrl, in a fixed rotation so that even a small farm has every form.
_FORM_ROTATION = ("en", "sq", "sr-Latn", "en", "sq", "sr-Cyrl", "en", "sr-Latn", "sq", "en")
_ARTICLE_ID = re.compile(r"-a(\d+)(?:/|$)")


@dataclass(frozen=True, slots=True)
class FarmSpec:
    feeds: int = 1000
    items: int = 50
    seed: int = 20261101
    relevant_share: float = 0.03
    crosspost_share: float = 0.02
    changed_share: float = 0.10
    new_items_per_changed: int = 5

    def key(self) -> str:
        raw = json.dumps(asdict(self), sort_keys=True) + _GENERATOR_VERSION
        return f"{self.feeds}x{self.items}-s{self.seed}-{hashlib.sha256(raw.encode()).hexdigest()[:8]}"


# Bump when the output changes, so cached farms are rebuilt.
_GENERATOR_VERSION = "5"


@dataclass(frozen=True, slots=True)
class Article:
    id: int
    feed: int
    form: str
    story: Story
    published: datetime
    relevant: bool

    def link(self) -> str:
        slug = "-".join(re.findall(r"[a-z]+", self.story.title.lower())[:7]) or "story"
        day = self.published
        return f"https://www.outlet{self.feed:04d}.example/{day:%Y/%m/%d}/{slug}-a{self.id}/"


@dataclass(frozen=True, slots=True)
class Entry:
    """One item of one feed: an article of this feed, or a cross-post of another feed's article."""

    article: Article
    crosspost: bool = False
    linkless: bool = False


@dataclass(slots=True)
class FeedPlan:
    index: int
    style: str
    form: str
    with_content: bool
    entries: list[Entry] = field(default_factory=list)
    changed: bool = False

    @property
    def name(self) -> str:
        return f"farm-{self.index:04d}"

    @property
    def path(self) -> str:
        return f"feeds/{self.index:04d}.{'atom' if self.style == 'atom' else 'rss'}"

    @property
    def language(self) -> str:
        return "sr" if self.form.startswith("sr") else self.form


@dataclass(frozen=True, slots=True)
class Farm:
    """A generated farm on disk: ``cycle1/`` complete, ``cycle2/`` the changed feeds only."""

    spec: FarmSpec
    root: Path
    manifest: dict[str, object]

    @property
    def feeds(self) -> list[dict[str, object]]:
        return self.manifest["feeds"]  # type: ignore[return-value]

    def truth(self, cycle: int) -> dict[int, bool]:
        """Article id → relevant, for every article a correct poller has stored after ``cycle``."""
        articles = {int(k): v for k, v in self.manifest["cycle1"].items()}  # type: ignore[attr-defined]
        if cycle >= 2:
            articles.update({int(k): v for k, v in self.manifest["cycle2"].items()})  # type: ignore[attr-defined]
        return articles

    def changed_paths(self) -> list[str]:
        return [str(f["path"]) for f in self.feeds if f["changed"]]

    def activate(self, www: Path, cycle: int) -> None:
        """Make ``www`` serve cycle 1 (everything) or cycle 2 (the changed feeds replaced)."""
        if not (www / "feeds").is_dir():
            for feed in self.feeds:
                _copy(self.root / "cycle1" / str(feed["path"]), www / str(feed["path"]), _epoch(FARM_NOW))
        version, mtime = ("cycle2", FARM_NOW + CYCLE2_DELAY) if cycle == 2 else ("cycle1", FARM_NOW)
        for path in self.changed_paths():
            _copy(self.root / version / path, www / path, _epoch(mtime))


def article_id(url: str | None, guid: str | None) -> int | None:
    """The generator's article id, read back from a stored item's URL (or guid when it has no link)."""
    for value in (url, guid):
        if value:
            found = _ARTICLE_ID.search(value.split("?")[0].split("#")[0])
            if found:
                return int(found.group(1))
    return None


def _epoch(when: datetime) -> float:
    return when.timestamp()


def _copy(source: Path, target: Path, mtime: float) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    os.utime(target, (mtime, mtime))


# ---------------------------------------------------------------- planning (pure)


class _Planner:
    def __init__(self, spec: FarmSpec) -> None:
        self.spec = spec
        self.next_id = 1
        self.shareable: list[Article] = []

    def article(self, feed: FeedPlan, published: datetime, rng: random.Random, *, shareable: bool) -> Article:
        relevant = rng.random() < self.spec.relevant_share
        paragraphs = rng.randint(4, 10) if feed.with_content else rng.randint(1, 2)
        if relevant:
            story = dialogue_story(feed.form, paragraphs, rng)
        else:
            story = filler_story(feed.form, paragraphs, rng, near_miss=rng.random() < 0.08)
        made = Article(self.next_id, feed.index, feed.form, story, published, relevant)
        self.next_id += 1
        if shareable:  # only articles with a link can be cross-posted (the link is what ties them)
            self.shareable.append(made)
        return made

    def entry(self, feed: FeedPlan, published: datetime, rng: random.Random) -> Entry:
        others = [a for a in self.shareable[-2000:] if a.feed != feed.index and a.form == feed.form]
        if others and rng.random() < self.spec.crosspost_share:
            return Entry(rng.choice(others), crosspost=True)
        linkless = feed.style == "plain" and rng.random() < 0.01
        return Entry(self.article(feed, published, rng, shareable=not linkless), linkless=linkless)


def plan_farm(spec: FarmSpec) -> tuple[list[FeedPlan], dict[int, list[Entry]]]:
    """The feeds of cycle 1, and for each changed feed the entries it gains in cycle 2."""
    planner = _Planner(spec)
    feeds: list[FeedPlan] = []
    for index in range(1, spec.feeds + 1):
        rng = random.Random(f"{spec.seed}:feed:{index}")
        style = rng.choices(STYLES, _STYLE_WEIGHTS)[0]
        form = _FORM_ROTATION[index % len(_FORM_ROTATION)]
        with_content = style == "wordpress" or (style == "atom" and rng.random() < 0.5)
        feed = FeedPlan(index, style, form, with_content)
        when = FARM_NOW - timedelta(minutes=rng.randint(5, 90))
        for _ in range(spec.items):
            feed.entries.append(planner.entry(feed, when, rng))
            when -= timedelta(minutes=rng.randint(10, 360))
        feeds.append(feed)
    picker = random.Random(f"{spec.seed}:changed")
    changed = sorted(picker.sample(range(len(feeds)), k=round(len(feeds) * spec.changed_share)))
    gained: dict[int, list[Entry]] = {}
    for position in changed:
        feed = feeds[position]
        feed.changed = True
        rng = random.Random(f"{spec.seed}:cycle2:{feed.index}")
        when = FARM_NOW + CYCLE2_DELAY - timedelta(minutes=rng.randint(1, 10))
        new = []
        for _ in range(spec.new_items_per_changed):
            new.append(planner.entry(feed, when, rng))
            when -= timedelta(minutes=rng.randint(1, 8))
        gained[feed.index] = new
    return feeds, gained


# ---------------------------------------------------------------- rendering (pure)


def _marked_up(text: str, rng: random.Random, feed: FeedPlan, entities: bool) -> str:
    """A paragraph as an outlet's CMS writes it: inline tags on whole words, typographic entities."""
    words = escape(text).split(" ")
    for _ in range(rng.randint(0, 2)):
        at = rng.randrange(len(words))
        if len(words[at]) < 6 or "<" in words[at]:
            continue
        kind = rng.choice(("strong", "em", "a"))
        if kind == "a":
            href = f"https://www.outlet{feed.index:04d}.example/tag/{rng.randint(1, 400)}/"
            words[at] = f'<a href="{href}">{words[at]}</a>'
        else:
            words[at] = f"<{kind}>{words[at]}</{kind}>"
    html = " ".join(words)
    if entities:
        html = html.replace("'", "&#8217;").replace(" – ", " &#8211; ").replace(", ", ",&nbsp;", 1)
    return f"<p>{html}</p>"


def _article_html(article: Article, feed: FeedPlan, rng: random.Random) -> str:
    parts = []
    for number, paragraph in enumerate(article.story.paragraphs):
        parts.append(_marked_up(paragraph, rng, feed, entities=feed.style == "wordpress"))
        if number == 0 and rng.random() < 0.7:
            parts.append(
                f'<figure class="wp-block-image size-large"><img src="https://www.outlet{feed.index:04d}.example/'
                f'wp-content/uploads/{article.published:%Y/%m}/photo-{article.id}.jpg" alt="" width="1024" '
                f'height="683" loading="lazy" /><figcaption>Photo: {escape(article.story.title[:40])}</figcaption>'
                "</figure>"
            )
        if number == 2 and rng.random() < 0.15:
            parts.append(
                '<blockquote class="social-embed"><p>Statement of the day</p></blockquote>'
                '<script async src="https://embed.example/widgets.js" charset="utf-8"></script>'
            )
    return "\n".join(parts)


def _link(entry: Entry, feed: FeedPlan) -> str:
    link = entry.article.link()
    if entry.crosspost:
        link += f"?utm_source=outlet{feed.index:04d}&utm_medium=rss&utm_campaign=aggregator"
    return link


def _rss_item(entry: Entry, feed: FeedPlan, rng: random.Random) -> str:
    article = entry.article
    title = escape(article.story.title)
    link = _link(entry, feed)
    offset = rng.choice(("+0100", "+0000", "GMT"))
    when = article.published.astimezone(UTC) + (timedelta(hours=1) if offset == "+0100" else timedelta())
    date = format_datetime(when).replace("-0000", offset).replace("+0000", offset)
    if feed.style == "wordpress":
        full = _article_html(article, feed, rng)
        excerpt = escape(article.story.paragraphs[0][:280])
        post = f"{feed.index}{article.id:07d}"
        return (
            f"\t<item>\n\t\t<title>{title}</title>\n\t\t<link>{escape(link)}</link>\n"
            f"\t\t<comments>{escape(article.link())}#respond</comments>\n"
            f"\t\t<dc:creator><![CDATA[Desk {article.feed % 17}]]></dc:creator>\n\t\t<pubDate>{date}</pubDate>\n"
            f"\t\t<category><![CDATA[News]]></category>\n\t\t<category><![CDATA[Region]]></category>\n"
            f'\t\t<guid isPermaLink="false">https://www.outlet{feed.index:04d}.example/?p={post}-a{article.id}</guid>\n'
            f'\t\t<description><![CDATA[<p>{excerpt} [&#8230;]</p>\n<p>The post <a rel="nofollow" '
            f'href="{escape(link)}">{title}</a> appeared first on Outlet {feed.index}.</p>\n]]></description>\n'
            f"\t\t<content:encoded><![CDATA[{full}]]></content:encoded>\n"
            f"\t\t<slash:comments>{rng.randint(0, 30)}</slash:comments>\n\t</item>\n"
        )
    description = escape("".join(_marked_up(p, rng, feed, entities=False) for p in article.story.paragraphs))
    if entry.linkless:
        return (
            f"\t<item>\n\t\t<title>{title}</title>\n\t\t<pubDate>{date}</pubDate>\n"
            f'\t\t<guid isPermaLink="false">outlet{feed.index:04d}-note-a{article.id}</guid>\n'
            f"\t\t<description>{description}</description>\n\t</item>\n"
        )
    enclosure = ""
    if rng.random() < 0.5:
        enclosure = (
            f'\t\t<enclosure url="https://cdn.outlet{feed.index:04d}.example/img/{article.id}.jpg" '
            f'length="{rng.randint(20_000, 300_000)}" type="image/jpeg"/>\n'
        )
    guid = escape(link) if not entry.crosspost else f"agg-{feed.index}-{article.id}"
    permalink = "" if not entry.crosspost else ' isPermaLink="false"'
    return (
        f"\t<item>\n\t\t<title>{title}</title>\n\t\t<link>{escape(link)}</link>\n"
        f"\t\t<description>{description}</description>\n"
        f"\t\t<author>desk@outlet{feed.index:04d}.example (Newsdesk)</author>\n"
        f"\t\t<guid{permalink}>{guid}</guid>\n\t\t<pubDate>{date}</pubDate>\n{enclosure}\t</item>\n"
    )


def _atom_entry(entry: Entry, feed: FeedPlan, rng: random.Random) -> str:
    article = entry.article
    when = article.published.isoformat().replace("+00:00", "Z")
    summary = escape(_marked_up(article.story.paragraphs[0][:400], rng, feed, entities=False))
    content = ""
    if feed.with_content:
        content = f'\t\t<content type="html">{escape(_article_html(article, feed, rng))}</content>\n'
    return (
        f'\t<entry>\n\t\t<title type="text">{escape(article.story.title)}</title>\n'
        f'\t\t<link rel="alternate" type="text/html" href={quoteattr(_link(entry, feed))}/>\n'
        f"\t\t<id>tag:outlet{feed.index:04d}.example,2026:{'x' if entry.crosspost else ''}a{article.id}</id>\n"
        f"\t\t<published>{when}</published>\n\t\t<updated>{when}</updated>\n"
        f"\t\t<author><name>Desk {article.feed % 13}</name></author>\n"
        f'\t\t<category term="news"/>\n\t\t<summary type="html">{summary}</summary>\n{content}\t</entry>\n'
    )


def render_feed(feed: FeedPlan, entries: list[Entry], updated: datetime) -> bytes:
    # Each entry's markup is drawn from its own seed: a feed that gains items in cycle 2 renders its
    # older entries byte for byte as before, as a CMS does (they are not revised articles).
    def rng(entry: Entry) -> random.Random:
        return random.Random(f"render:{feed.index}:{entry.article.id}:{entry.crosspost}")

    host = f"https://www.outlet{feed.index:04d}.example"
    lang = {"sr-Latn": "sr-Latn", "sr-Cyrl": "sr"}.get(feed.form, feed.form)
    if feed.style == "atom":
        body = "".join(_atom_entry(e, feed, rng(e)) for e in entries)
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{lang}">\n'
            f"\t<title>Outlet {feed.index}</title>\n\t<subtitle>News from the region</subtitle>\n"
            f'\t<link rel="alternate" type="text/html" href="{host}/"/>\n'
            f'\t<link rel="self" type="application/atom+xml" href="{host}/atom.xml"/>\n'
            f"\t<id>tag:outlet{feed.index:04d}.example,2026:feed</id>\n"
            f"\t<updated>{updated.isoformat().replace('+00:00', 'Z')}</updated>\n"
            f"{body}</feed>\n"
        ).encode()
    items = "".join(_rss_item(e, feed, rng(e)) for e in entries)
    namespaces = (
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:atom="http://www.w3.org/2005/Atom" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"'
        ' xmlns:slash="http://purl.org/rss/1.0/modules/slash/"'
    )
    extra = (
        "\t<sy:updatePeriod>hourly</sy:updatePeriod>\n\t<sy:updateFrequency>1</sy:updateFrequency>\n"
        "\t<generator>https://wordpress.org/?v=6.6.2</generator>\n"
        if feed.style == "wordpress"
        else "\t<ttl>15</ttl>\n"
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<rss version="2.0"{namespaces}>\n<channel>\n\t<title>Outlet {feed.index}</title>\n'
        f'\t<atom:link href="{host}/feed/" rel="self" type="application/rss+xml" />\n'
        f"\t<link>{host}</link>\n\t<description>News from the region</description>\n"
        f"\t<lastBuildDate>{format_datetime(updated)}</lastBuildDate>\n\t<language>{lang}</language>\n"
        f"{extra}{items}</channel>\n</rss>\n"
    ).encode()


# ---------------------------------------------------------------- writing


def build_farm(spec: FarmSpec, cache: Path) -> Farm:
    """Generate the farm under ``cache/<spec key>/`` unless it is there already."""
    root = cache / spec.key()
    manifest_path = root / "manifest.json"
    if manifest_path.is_file():
        return Farm(spec, root, json.loads(manifest_path.read_text(encoding="utf-8")))
    staging = cache / (spec.key() + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    feeds, gained = plan_farm(spec)
    cycle1: dict[str, bool] = {}
    cycle2: dict[str, bool] = {}
    listed = []
    for feed in feeds:
        _write(staging / "cycle1" / feed.path, render_feed(feed, feed.entries, FARM_NOW))
        cycle1.update({str(e.article.id): e.article.relevant for e in feed.entries})
        if feed.changed:
            new = gained[feed.index]
            window = (new + feed.entries)[: spec.items]
            _write(staging / "cycle2" / feed.path, render_feed(feed, window, FARM_NOW + CYCLE2_DELAY))
            cycle2.update({str(e.article.id): e.article.relevant for e in new if str(e.article.id) not in cycle1})
        listed.append(
            {
                "name": feed.name,
                "path": feed.path,
                "style": feed.style,
                "form": feed.form,
                "language": feed.language,
                "changed": feed.changed,
            }
        )
    manifest = {"spec": asdict(spec), "feeds": listed, "cycle1": cycle1, "cycle2": cycle2}
    (staging / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    shutil.rmtree(root, ignore_errors=True)
    staging.rename(root)
    return Farm(spec, root, manifest)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
