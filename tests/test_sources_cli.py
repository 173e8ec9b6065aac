"""`monitor sources discover | import | export | test` against the local test site."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.cli import main
from monitor.config import load_config
from tests.support.configs import feed_source, write_config
from tests.support.httpserver import LocalServer
from tests.support.site import (
    EN_LISTING,
    HTML,
    SELECTORS,
    SQ_LISTING,
    SR_FEED,
    fixture_text,
    page_source,
    serve_site,
    site_sources,
)

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title><language>{language}</language>
<item><title>Prvi</title><link>https://site.example/1</link><pubDate>Sat, 21 Nov 2026 10:00:00 +0100</pubDate></item>
</channel></rss>"""
ATOM = """<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
<title>Press material (Atom)</title><id>urn:test:press</id><updated>2026-11-21T10:00:00Z</updated>
<entry><title>Statement</title><id>urn:test:press:1</id><link href="https://site.example/s1"/>
<updated>2026-11-21T10:00:00Z</updated></entry></feed>"""


def run(config: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["--config", str(config), *args], out=out)
    return code, out.getvalue()


def entries_of(output: str) -> list[dict[str, Any]]:
    """The YAML entries a command printed, read as config.yaml would read them."""
    document = "sources:\n" + "".join(line + "\n" for line in output.splitlines() if line.startswith("  - "))
    return list(yaml.safe_load(document)["sources"] or [])


MIXED_SOURCES = [
    {"name": "kossev", "title": "KoSSev", "kind": "feed", "url": "https://kossev.info/feed/", "language": "sr",
     "origin": "belgrade", "note": "north Kosovo"},
    {"name": "koha", "title": "Koha", "kind": "feed", "url": "https://www.koha.net/rss", "language": "sq",
     "origin": "pristina", "full_text": True, "interval_minutes": 15,
     "selectors": {"article_text": ".article-body"}},
    {"name": "evropaelire-news", "title": "Radio Evropa e Lirë, news", "kind": "page",
     "url": "https://www.evropaelire.org/z/704", "language": "sq", "origin": "international",
     "selectors": {"links": '.media-block a[href*="/a/"]', "date": ".date"}},
    {"name": "kim-gov", "title": "Канцеларија за КиМ", "kind": "page", "url": "https://www.kim.gov.rs/",
     "language": "sr", "origin": "belgrade", "enabled": False, "selectors": {"links": "a[href*='vest']"}},
]  # fmt: skip


def test_export_then_import_gives_back_every_source(tmp_path: Path) -> None:
    first = tmp_path / "a"
    first.mkdir()
    exported = tmp_path / "sources.opml"
    code, _ = run(write_config(first, MIXED_SOURCES), "sources", "export", "--out", str(exported))
    assert code == 0
    opml = exported.read_text(encoding="utf-8")
    assert '<opml xmlns:monitor="' in opml and 'version="2.0"' in opml
    assert 'type="rss" xmlUrl="https://kossev.info/feed/"' in opml  # what other readers understand

    second = tmp_path / "b"
    second.mkdir()
    other = feed_source("other", "https://other.example/feed", "en")
    target = write_config(second, [other])
    code, out = run(target, "sources", "import", str(exported), "--write")
    assert code == 0, out
    assert "added 4 sources" in out
    reloaded = load_config(target).sources[1:]
    expected = load_config(write_config(first, MIXED_SOURCES)).sources
    # the export groups sources by language, so only the order may differ
    assert sorted(reloaded, key=lambda s: s.name) == sorted(expected, key=lambda s: s.name)


def test_import_from_another_reader_with_folders_and_defaults(tmp_path: Path) -> None:
    opml = tmp_path / "reader.opml"
    opml.write_text(
        """<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0"><head><title>My subscriptions</title></head><body>
  <outline text="Balkans" title="Balkans">
    <outline text="Kallxo" title="Kallxo" type="rss" xmlUrl="https://kallxo.com/feed/" htmlUrl="https://kallxo.com/"/>
    <outline text="Already here" type="rss" xmlUrl="http://www.kossev.info/feed"/>
    <outline text="Nested">
      <outline text="Радио Слободна Европа" type="rss" language="sr-Latn" xmlUrl="https://www.slobodnaevropa.org/api/zrqiteuuir"/>
    </outline>
  </outline>
  <outline text="Not a feed" type="link" url="https://example.org/"/>
</body></opml>""",
        encoding="utf-8",
    )
    config = write_config(tmp_path, [feed_source("kossev", "https://kossev.info/feed/", "sr")])
    code, out = run(config, "sources", "import", str(opml), "--language", "sq", "--origin", "pristina")
    assert code == 0
    assert "# already configured as kossev: Already here" in out
    assert entries_of(out) == [
        {"name": "kallxo", "title": "Kallxo", "kind": "feed", "url": "https://kallxo.com/feed/", "language": "sq",
         "origin": "pristina"},
        {"name": "radio-slobodna-evropa", "title": "Радио Слободна Европа", "kind": "feed",
         "url": "https://www.slobodnaevropa.org/api/zrqiteuuir", "language": "sr", "origin": "pristina"},
    ]  # fmt: skip
    assert [s.name for s in load_config(config).sources] == ["kossev"]  # nothing written without --write


def test_import_names_the_outlines_it_cannot_take_and_how_to_fix_it(tmp_path: Path) -> None:
    opml = tmp_path / "bare.opml"
    opml.write_text(
        '<opml version="2.0"><body><outline text="Zëri" type="rss" xmlUrl="https://zeri.info/rss/zerat"/></body></opml>',
        encoding="utf-8",
    )
    code, out = run(write_config(tmp_path, []), "sources", "import", str(opml))
    assert code == 1
    assert "not imported: 'Zëri' (https://zeri.info/rss/zerat): no language and no origin" in out
    assert "pass --language and --origin" in out


@pytest.mark.parametrize(
    "document",
    [
        # entity expansion ("billion laughs")
        """<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
        <opml version="2.0"><body><outline text="&lol2;" type="rss" xmlUrl="https://x.example/feed"/></body></opml>""",
        # an external entity that would read a local file
        """<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
        <opml version="2.0"><body><outline text="&secret;" type="rss" xmlUrl="https://x.example/feed"/></body></opml>""",
    ],
)
def test_hostile_opml_is_refused_with_a_clear_message(
    tmp_path: Path, document: str, capsys: pytest.CaptureFixture[str]
) -> None:
    opml = tmp_path / "hostile.opml"
    opml.write_text(document, encoding="utf-8")
    config = write_config(tmp_path, [])
    code, out = run(config, "sources", "import", str(opml), "--language", "en", "--origin", "international")
    assert code == 1
    assert out == ""
    assert "refused for safety" in capsys.readouterr().err
    assert "root:" not in config.read_text(encoding="utf-8")


def test_import_write_keeps_the_comments_of_config_yaml(tmp_path: Path) -> None:
    config = write_config(tmp_path, [feed_source("kossev", "https://kossev.info/feed/", "sr")])
    text = config.read_text(encoding="utf-8")
    text = text.replace("sources:\n", "# Our outlets, checked every week.\nsources:\n  # Serbian\n", 1)
    config.write_text(text, encoding="utf-8")
    opml = tmp_path / "one.opml"
    opml.write_text(
        '<opml version="2.0"><body><outline text="Koha" type="rss" language="sq" xmlUrl="https://www.koha.net/rss"/>'
        "</body></opml>",
        encoding="utf-8",
    )
    code, _ = run(config, "sources", "import", str(opml), "--origin", "pristina", "--write")
    assert code == 0
    written = config.read_text(encoding="utf-8")
    assert "# Our outlets, checked every week.\nsources:\n  # Serbian\n" in written
    assert [s.name for s in load_config(config).sources] == ["kossev", "koha"]
    code, out = run(config, "check")
    assert code == 0 and "2 configured" in out


def test_import_of_a_missing_file_says_which(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run(write_config(tmp_path, []), "sources", "import", str(tmp_path / "nope.opml"))
    assert code == 1
    assert "nope.opml: cannot read the file" in capsys.readouterr().err


def test_discover_lists_advertised_feeds_and_common_paths_ready_to_paste(server: LocalServer, tmp_path: Path) -> None:
    home = """<html lang="sr"><head><title>Vesti</title>
      <link rel="alternate" type="application/rss+xml" title="Sve vesti" href="/rss/sve.xml">
      <link rel="alternate" type="application/rss+xml" title="Stari feed" href="/old.rss">
      <link rel="stylesheet" href="/site.css"></head><body><a href="/kontakt">Kontakt</a></body></html>"""
    server.add("/", home, content_type=HTML)
    server.add("/rss/sve.xml", RSS.format(title="Vesti sa severa", language="sr"))
    server.add("/feed/", ATOM)  # a common path nobody advertised
    server.add("/rss", b"", status=301, headers={"Location": "/feed/"}, content_type="text/plain")  # the same feed
    config = write_config(tmp_path, [])
    code, out = run(config, "sources", "discover", server.url("/"), "--origin", "belgrade")
    assert code == 0
    assert "# not a usable feed (advertised): " + server.url("/old.rss") in out
    found = entries_of(out)
    assert found == [
        {"name": "vesti-sa-severa", "title": "Vesti sa severa", "kind": "feed", "url": server.url("/rss/sve.xml"),
         "language": "sr", "origin": "belgrade"},
        {"name": "press-material-atom", "title": "Press material (Atom)", "kind": "feed",
         "url": server.url("/feed/"), "language": "en", "origin": "belgrade"},
    ]  # fmt: skip
    pasted = write_config(tmp_path, found)  # ready to paste: it validates
    assert [s.name for s in load_config(pasted).sources] == ["vesti-sa-severa", "press-material-atom"]


def test_discover_on_a_page_without_feeds_suggests_a_page_source(server: LocalServer, tmp_path: Path) -> None:
    serve_site(server)
    code, out = run(write_config(tmp_path, []), "sources", "discover", server.url(SQ_LISTING))
    assert code == 1
    assert "no feed found" in out and "--links" in out
    assert "not a usable feed (advertised): " + server.url("/api/") in out


def test_sources_test_shows_what_a_page_source_would_give_and_stores_nothing(
    server: LocalServer, tmp_path: Path
) -> None:
    serve_site(server)
    config = write_config(tmp_path, site_sources(server))
    code, out = run(config, "sources", "test", "lajme")
    assert code == 0
    assert "4 links with selectors.links" in out
    assert "Kryenegociatorët takohen sërish në Bruksel" in out
    assert "match     yes, score" in out
    assert "not read  [robots_denied]" in out
    assert "2026-11-20 09:15" in out  # the article's date, in the digest's time zone
    assert out.rstrip().endswith("nothing was stored.")
    _, items = run(config, "items")
    assert "no items stored yet" in items
    _, listing = run(config, "sources")
    assert "lajme" in listing and "never polled" in next(line for line in listing.splitlines() if " lajme " in line)
    db = sqlite3.connect(tmp_path / "monitor.db")
    try:
        assert db.execute("select count(*) from polls").fetchone() == (0,)
    finally:
        db.close()


def test_sources_test_tries_a_selector_on_any_url(server: LocalServer, tmp_path: Path) -> None:
    serve_site(server)
    config = write_config(tmp_path, [])
    code, out = run(
        config, "sources", "test", server.url(EN_LISTING), "--links", SELECTORS["en"]["links"], "--limit", "1"
    )
    assert code == 0
    assert "2 links with selectors.links" in out
    assert "Belgrade-Pristina Dialogue" in out and "… and 1 more" in out


def test_sources_test_of_a_full_text_feed_matches_on_the_article(server: LocalServer, tmp_path: Path) -> None:
    serve_site(server)
    config = write_config(tmp_path, [feed_source("sever", server.url(SR_FEED), "sr", full_text=True)])
    code, out = run(config, "sources", "test", "sever")
    assert code == 0
    assert "(full_text feed)" in out
    assert "posvećena dijalogu sa Prištinom" in out  # the snippet comes from the article body


def test_sources_test_reports_a_broken_selector(
    server: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_site(server)
    source = page_source("lajme", server.url(SQ_LISTING), "sq", {"links": ".teaser-card a"})
    code, _ = run(write_config(tmp_path, [source]), "sources", "test", "lajme")
    assert code == 1
    assert "no article links found" in capsys.readouterr().err


def test_sources_test_of_an_article_url_shows_its_extraction(server: LocalServer, tmp_path: Path) -> None:
    serve_site(server)
    server.add("/a/plain.html", fixture_text("sq_article_dialogue.html"), content_type=HTML)
    code, out = run(write_config(tmp_path, []), "sources", "test", server.url("/a/plain.html"), "--language", "sq")
    assert code == 0
    assert "is not a feed; read as one article page" in out
    assert "text      942 chars [extractor]" in out


def test_sources_test_of_an_unknown_name_lists_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run(write_config(tmp_path, MIXED_SOURCES), "sources", "test", "kosev")
    assert code == 1
    assert "no source named 'kosev'" in capsys.readouterr().err
