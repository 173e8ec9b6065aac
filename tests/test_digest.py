"""The digest an editor reads: grouped, escaped, highlighted, with the health of the sources."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.notify.digest import (
    Catalog,
    DigestRenderer,
    SourceInfo,
    build_digest,
    build_entries,
    safe_url,
)
from monitor.notify.email import build_message, header_value, message_id_for
from monitor.types import Item, MatchResult, SourceState, StoredItem

ZONE = ZoneInfo("Europe/Belgrade")
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
CATALOG = Catalog(
    sources={
        "koha": SourceInfo("koha", "Koha", "pristina", "sq"),
        "kossev": SourceInfo("kossev", "KoSSev", "belgrade", "sr"),
        "rts": SourceInfo("rts", "RTS", "belgrade", "sr"),
        "bi": SourceInfo("bi", "Balkan Insight", "international", "en"),
    },
    topics={"asm": "Association of Serb-majority municipalities", "ohrid-annex": "Ohrid agreement and annex"},
    actors={"lajcak": "Miroslav Lajčák", "kurti": "Albin Kurti"},
)
HOSTILE = '<script>document.title="PWNED"</script><img src=x onerror="document.title=\'PWNED\'">'


def stored(
    n: int,
    source: str,
    title: str,
    *,
    hours_ago: float,
    url: str | None = None,
    topics: tuple[str, ...] = (),
    actors: tuple[str, ...] = (),
    snippet: str = "",
    language: str = "en",
) -> StoredItem:
    when = NOW - timedelta(hours=hours_ago)
    item = Item(source, f"k{n}", url or f"https://{source}.example/{n}", None, title, "", when, language, "h")
    # ``snippet`` as the matcher marks it: matched terms between ⟦ and ⟧.
    plain = snippet.replace("⟦", "").replace("⟧", "")
    result = MatchResult(
        True, 4.0, (plain,) if plain else (), actors, topics, None, "dialogue+party", (snippet,) if snippet else ()
    )
    return StoredItem(n, item, when, result)


def sample() -> list[StoredItem]:
    return [
        stored(1, "bi", "EU envoy Lajčák returns to Brussels talks", hours_ago=2, actors=("lajcak",),
               snippet="The ⟦dialogue⟧ resumes on Monday, ⟦Lajčák⟧ said."),
        stored(2, "koha", "Kurti: dialogu duhet të vazhdojë", hours_ago=5, actors=("kurti",), language="sq",
               snippet="⟦Kurti⟧ tha se ⟦dialogu⟧ duhet të vazhdojë."),
        stored(3, "kossev", "Zajednica srpskih opština ponovo na stolu", hours_ago=3, topics=("asm",),
               language="sr", snippet="⟦Zajednica srpskih opština⟧ je tema novog kruga."),
        stored(4, "rts", "Нови круг дијалога у Бриселу", hours_ago=1, topics=("asm", "ohrid-annex"),
               language="sr", snippet="Нови круг ⟦дијалога⟧ почиње у понедељак."),
        stored(5, "bi", "Ohrid annex: what is left to implement", hours_ago=4, topics=("ohrid-annex",)),
        stored(6, "koha", "Asociacioni dhe aneksi i Ohrit", hours_ago=6, topics=("ohrid-annex", "asm"),
               language="sq"),
    ]  # fmt: skip


def render(items: list[StoredItem], states: dict[str, SourceState] | None = None):  # type: ignore[no-untyped-def]
    entries = build_entries(items, CATALOG, ZONE)
    digest = build_digest(entries, CATALOG, ZONE, NOW, since=NOW - timedelta(days=1), states=states)
    return DigestRenderer().render(digest)


def test_grouped_by_topic_then_origin_each_story_once_newest_first() -> None:
    text = render(sample()).text
    headings = [line for line in text.splitlines() if re.fullmatch(r"[A-ZА-Я ].*\(\d+\)", line)]
    assert headings == ["THE DIALOGUE (2)", "ASSOCIATION OF SERB-MAJORITY MUNICIPALITIES (3)",
                        "OHRID AGREEMENT AND ANNEX (1)"]  # fmt: skip
    # Stories naming two topics are shown once, under the one that comes first in the profile.
    assert text.count("Нови круг дијалога у Бриселу") == 1
    assert text.count("Asociacioni dhe aneksi i Ohrit") == 1
    asm = text[text.index("ASSOCIATION") : text.index("OHRID AGREEMENT")]
    assert "Нови круг" in asm and "Zajednica srpskih opština ponovo" in asm and "Asociacioni" in asm
    # Within a topic: Pristina outlets, then Belgrade, then international; newest first within.
    assert asm.index("[Pristina outlets]") < asm.index("Asociacioni") < asm.index("[Belgrade outlets]")
    assert asm.index("Нови круг") < asm.index("Zajednica srpskih opština ponovo")
    general = text[: text.index("ASSOCIATION")]
    assert general.index("[Pristina outlets]") < general.index("Kurti:") < general.index("[International")


def test_subject_and_times_in_the_readers_zone() -> None:
    rendered = render(sample())
    assert rendered.subject == "Kosovo–Serbia dialogue: 6 new items — 22 Nov 2026"
    # Published 04:00 UTC = 05:00 in Pristina/Belgrade (CET).
    assert "Balkan Insight · 22 Nov 2026 05:00" in rendered.text
    assert render([]).subject == "Kosovo–Serbia dialogue: no new developments — 22 Nov 2026"
    assert "No new developments" in render([]).text


def test_matched_terms_are_highlighted_in_the_snippet() -> None:
    rendered = render(sample())
    assert "“The *dialogue* resumes on Monday, *Lajčák* said.”" in rendered.text
    hits = re.findall(r'<span class="hit"[^>]*>([^<]+)</span>', rendered.html)
    assert sorted(hits) == sorted(["dialogue", "Lajčák", "Kurti", "dialogu", "Zajednica srpskih opština", "дијалога"])
    assert "⟦" not in rendered.html and "⟧" not in rendered.text
    # A match stored without marks shows its plain snippet.
    plain = stored(20, "bi", "Old match", hours_ago=1, snippet="The dialogue goes on.")
    plain = replace(plain, match=replace(plain.match, marked_snippets=()))  # type: ignore[arg-type]
    assert "“The dialogue goes on.”" in render([plain]).text


def test_actor_and_topic_tags_and_also_reported_by() -> None:
    entries = build_entries(sample()[:1], CATALOG, ZONE)
    assert entries[0].actor_labels == ("Miroslav Lajčák",)
    assert entries[0].also_reported_by == ()
    entries = [replace(entries[0], also_reported_by=("Koha", "RTS"))]
    digest = build_digest(entries, CATALOG, ZONE, NOW)
    rendered = DigestRenderer().render(digest)
    assert "Also reported by Koha, RTS" in rendered.text
    assert "Also reported by Koha, RTS" in rendered.html
    assert ">Miroslav Lajčák</span>" in rendered.html


def test_feed_text_is_escaped_and_only_http_links_survive() -> None:
    items = [
        stored(10, "bi", HOSTILE + " dialogue", hours_ago=1, url="javascript:alert(1)", snippet=f"⟦{HOSTILE}⟧ x"),
        stored(11, "bi", "Data link", hours_ago=1, url="data:text/html;base64,PHNjcmlwdD4="),
        stored(12, "bi", "VB link", hours_ago=1, url=" VBScript:msgbox(1)"),
        stored(13, "bi", 'Quote " breaks out', hours_ago=1, url='https://bi.example/a?x="><script>x</script>'),
        stored(14, "bi", "Fine", hours_ago=1, url="https://bi.example/fine"),
    ]
    html = render(items).html
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert sorted(hrefs) == ["https://bi.example/a?x=%22%3E%3Cscript%3Ex%3C/script%3E", "https://bi.example/fine"]
    for scheme in ("javascript:", "data:text", "vbscript:"):
        assert scheme not in html.lower()


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,x", "vbscript:x", "//evil.example/x",
            "https://", "https://ok.example/\nx", "ftp://files.example/x"]
)  # fmt: skip
def test_unsafe_links_are_dropped(url: str) -> None:
    assert safe_url(url) is None


def test_css_is_inlined_for_mail_clients() -> None:
    html = render(sample()).html
    assert re.search(r'<td class="entry" style="[^"]*padding', html)
    assert re.search(r'<a href="https://bi.example/1" style="[^"]*color', html)
    styles = re.findall(r"<style[^>]*>(.*?)</style>", html, re.DOTALL)
    # Only the narrow-screen rules stay in a <style> block; everything else is inline.
    assert all(s.strip().startswith("@media") for s in styles)


def test_footer_names_the_failing_sources_since_when() -> None:
    states = {
        "kossev": SourceState(
            "kossev",
            last_status="error",
            last_error_message="fetch: HTTP 503 from kossev.info",
            failing_since=datetime(2026, 11, 20, 23, 30, tzinfo=UTC),
            consecutive_errors=7,
        ),
        "koha": SourceState("koha", last_status="ok"),
    }
    rendered = render(sample(), states)
    assert "KoSSev: failing since 21 Nov 2026 00:30 (7x): fetch: HTTP 503 from kossev.info" in rendered.text
    assert "3 answered at their last poll" in rendered.text
    assert "KoSSev: failing since 21 Nov 2026 00:30 (7 polls)" in rendered.html
    assert "All 4 sources answered at their last poll." in render(sample()).html


# ------------------------------------------------------------------ headers

LINE_BREAKS = ["\r", "\n", "\r\n", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x00"]


@pytest.mark.parametrize("brk", LINE_BREAKS)
def test_header_values_lose_every_line_separator(brk: str) -> None:
    value = f"Subject line{brk}Bcc: victim@example.org"
    cleaned = header_value(value)
    assert cleaned == "Subject line Bcc: victim@example.org"


def _message(subject: str) -> email.message.EmailMessage:
    from monitor.notify.digest import RenderedDigest

    rendered = RenderedDigest(subject=subject, text="text", html="<p>html</p>", count=1)
    raw = build_message(
        rendered,
        sender="Dialogue monitor <monitor@newsroom.example>",
        recipients=["desk@newsroom.example"],
        message_id=message_id_for("digest:desk:x", "monitor@newsroom.example"),
        date=NOW,
    )
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def test_an_injected_header_never_becomes_a_header() -> None:
    # An encoded-word carrying CR LF is the CVE-2024-6923 shape; raw separators the classic one.
    for subject in ("Hi\r\nBcc: victim@example.org", "=?utf-8?q?Hi=0D=0ABcc:_victim@example.org?=",
                    "Hi\u2028Bcc: victim@example.org", "Hi\x85Bcc: victim@example.org"):  # fmt: skip
        message = _message(subject)
        assert message["Bcc"] is None
        assert sorted(message.keys()) == sorted(
            ["From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "MIME-Version", "Content-Type"]
        )


@given(st.text(min_size=1, max_size=200))
def test_any_subject_stays_one_header(subject: str) -> None:
    cleaned = header_value(subject)
    assert not re.search(r"[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]", cleaned)
    message = _message(subject)
    assert message["Bcc"] is None and message["Cc"] is None
    assert len(message.keys()) == 8


def test_message_id_is_stable_per_delivery_and_uses_the_sender_domain() -> None:
    first = message_id_for("digest:desk:2026-11-22T06:00Z", "Monitor <monitor@newsroom.example>")
    assert first == message_id_for("digest:desk:2026-11-22T06:00Z", "Monitor <monitor@newsroom.example>")
    assert first != message_id_for("digest:desk:2026-11-23T06:00Z", "Monitor <monitor@newsroom.example>")
    assert re.fullmatch(r"<digest\.[0-9a-f]{32}@newsroom\.example>", first)
