"""Identity: canonical URLs and keys (examples and Hypothesis properties), and the GUID fallback."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.identity import (
    TRACKING_PARAMS,
    GuidCheck,
    KeyPolicy,
    canonical_url,
    check_guids,
    choose_key_policy,
    identify,
    url_key,
)
from monitor.types import FeedEntry

# ---------------------------------------------------------------- examples

SAME_ARTICLE = [
    "https://www.koha.example/arberi/412345/dialogu-ne-bruksel",
    "http://www.koha.example/arberi/412345/dialogu-ne-bruksel",
    "HTTPS://WWW.KOHA.EXAMPLE:443/arberi/412345/dialogu-ne-bruksel/",
    "https://koha.example/arberi/412345/dialogu-ne-bruksel?utm_source=rss&utm_medium=feed",
    "https://m.koha.example/arberi/412345/dialogu-ne-bruksel#comments",
    "https://mobile.koha.example/arberi/412345/dialogu-ne-bruksel?fbclid=IwAR0x&gclid=abc",
    "https://amp.koha.example/arberi/412345/dialogu-ne-bruksel",
    "https://www.koha.example/arberi/412345/dialogu-ne-bruksel/amp/",
    "https://www.koha.example/amp/arberi/412345/dialogu-ne-bruksel",
    "https://www.koha.example/arberi/412345/dialogu-ne-bruksel?amp=1",
    "https://www.koha.example/arberi/412345/dialogu-ne-bruksel?outputType=amp&mc_cid=77&mc_eid=88",
    "https://www-koha-example.cdn.ampproject.org/c/s/www.koha.example/arberi/412345/dialogu-ne-bruksel",
    "https://www.koha.example/arberi/./412345/x/../dialogu-ne-bruksel",
    "https://www.koha.example/arberi/412345/dialogu-ne-bruksel?ref=homepage&_ga=2.1&xtor=RSS-1",
]


@pytest.mark.parametrize("variant", SAME_ARTICLE)
def test_every_variant_of_one_article_has_the_same_key(variant: str) -> None:
    assert url_key(variant) == url_key(SAME_ARTICLE[0])


def test_canonical_url_keeps_what_the_site_needs_and_drops_the_rest() -> None:
    url = "HTTPS://www.B92.example:8443/info/vesti?yyyy=2026&nav_id=12&utm_campaign=x&id=5#top"
    assert canonical_url(url) == "https://www.b92.example:8443/info/vesti?id=5&nav_id=12&yyyy=2026"
    # parameters that select the article stay, in a stable order, whatever order the feed used
    assert canonical_url("https://x.example/a?b=2&a=1") == canonical_url("https://x.example/a?a=1&b=2")
    # an AMP-valued parameter is dropped only with the AMP value
    assert canonical_url("https://x.example/a?output=json") == "https://x.example/a?output=json"
    # percent-escapes are normalised; an escaped slash stays escaped (it is part of a segment name)
    assert canonical_url("https://x.example/%d0%b2%D0%B5%D1%81%D1%82%D0%B8/a%2Fb") == (
        "https://x.example/%D0%B2%D0%B5%D1%81%D1%82%D0%B8/a%2Fb"
    )
    assert canonical_url("https://x.example/вести") == "https://x.example/%D0%B2%D0%B5%D1%81%D1%82%D0%B8"
    # user info never reaches the store or a digest
    assert canonical_url("https://user:secret@x.example/a") == "https://x.example/a"
    # hash-bang routes are the address of the article on old single-page sites
    assert canonical_url("https://x.example/#!/vest/123") == "https://x.example/#!/vest/123"


def test_different_articles_keep_different_keys() -> None:
    different = [
        "https://www.koha.example/arberi/412345/dialogu-ne-bruksel",
        "https://www.koha.example/arberi/412346/dialogu-ne-bruksel",
        "https://www.koha.example/arberi/412345/dialogu-ne-bruksel?page=2",
        "https://other.example/arberi/412345/dialogu-ne-bruksel",
        "https://www.koha.example/arberi/412345/amp-story",
        "https://www.koha.example/#!/vest/1",
        "https://www.koha.example/#!/vest/2",
        "https://www.koha.example:8080/arberi/412345/dialogu-ne-bruksel",
    ]
    assert len({url_key(u) for u in different}) == len(different)


# ---------------------------------------------------------------- properties

_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)
_host = st.builds(lambda labels, tld: ".".join([*labels, tld]), st.lists(_label, min_size=1, max_size=3),
                  st.sampled_from(["com", "rs", "net", "example", "eu"]))  # fmt: skip
_segment = st.text(
    alphabet=st.sampled_from(list("abcdefghijklmnopqrstuvwxyz0123456789-_~ABCXYZčćšžđëçвестиљњ%20")),
    min_size=1,
    max_size=16,
).filter(lambda s: s not in (".", "..", "amp") and not s.endswith(".amp"))
_path = st.lists(_segment, min_size=0, max_size=4).map(lambda segs: "/" + "/".join(segs))
_param_key = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8).filter(
    lambda k: (
        k not in TRACKING_PARAMS
        and not k.startswith(("utm_", "at_", "pk_", "hsa_", "ns_", "mtm_", "piwik_", "hmb_"))
        and k not in ("output", "outputtype", "format")
    )
)
_param_value = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 -é/", max_size=8)
_params = st.dictionaries(_param_key, _param_value, max_size=4).map(lambda d: sorted(d.items()))
_tracking = st.lists(
    st.tuples(st.sampled_from(sorted(TRACKING_PARAMS) + ["utm_source", "utm_campaign", "pk_kwd"]), _param_value),
    max_size=3,
)


def _url(scheme: str, host: str, path: str, params: list[tuple[str, str]]) -> str:
    query = f"?{urlencode(params)}" if params else ""
    return f"{scheme}://{host}{path}{query}"


_urls = st.builds(_url, st.sampled_from(["http", "https"]), _host, _path, _params)


@given(_urls)
def test_canonical_url_is_idempotent(url: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once
    assert url_key(once) == url_key(url)


@given(st.sampled_from(["http", "https"]), _host, _path, _params, _tracking, st.randoms(use_true_random=False))
def test_tracking_parameters_order_case_and_fragments_never_change_the_key(
    scheme: str,
    host: str,
    path: str,
    params: list[tuple[str, str]],
    tracking: list[tuple[str, str]],
    rnd: random.Random,
) -> None:
    base = url_key(_url("https", host, path, params))
    mixed = params + tracking
    rnd.shuffle(mixed)
    variant = _url(scheme, host.upper(), path, mixed) + "#section-2"
    assert url_key(variant) == base


@given(_host, _path, _params, st.sampled_from(["www.", "m.", "mobile.", "amp.", ""]), st.booleans())
def test_mobile_amp_hosts_and_trailing_slashes_fold(
    host: str, path: str, params: list[tuple[str, str]], prefix: str, slash: bool
) -> None:
    host = "site." + host  # at least two labels, so the prefix is a sub-domain
    plain = url_key(_url("https", host, path, params))
    variant_path = path.rstrip("/") + "/" if slash else path
    assert url_key(_url("http", prefix + host, variant_path, params)) == plain
    assert url_key(_url("https", host, path.rstrip("/") + "/amp/", params)) == plain


@given(_host, _path, _path, _params)
def test_different_paths_are_different_articles(host: str, a: str, b: str, params: list[tuple[str, str]]) -> None:
    ka, kb = url_key(_url("https", host, a, params)), url_key(_url("https", host, b, params))
    same_path = canonical_url(f"https://{host}{a}").rstrip("/") == canonical_url(f"https://{host}{b}").rstrip("/")
    assert (ka == kb) == same_path


@given(_host, _path, _param_key, _param_value, _param_value)
def test_article_selecting_parameters_are_kept(host: str, path: str, key: str, v1: str, v2: str) -> None:
    a, b = url_key(_url("https", host, path, [(key, v1)])), url_key(_url("https", host, path, [(key, v2)]))
    assert (a == b) == (v1 == v2)


# ---------------------------------------------------------------- GUID trust


def _entry(n: int, guid: str | None, link: str | None = None, minute: int = 0) -> FeedEntry:
    return FeedEntry(
        guid=guid,
        link=link if link is not None else f"https://wire.example/a/{n}",
        title=f"Title {n}",
        text=f"Text {n}",
        published=datetime(2026, 11, 22, 7, minute, tzinfo=UTC),
        language="en",
    )


def test_guid_check_counts_empty_and_repeated_guids() -> None:
    entries = [_entry(1, "g1"), _entry(2, "g1"), _entry(3, None), _entry(4, "  "), _entry(5, "g5")]
    assert check_guids(entries) == GuidCheck(entries=5, empty=2, repeated=1)


def test_a_feed_with_more_than_five_percent_bad_guids_is_keyed_by_link_and_date() -> None:
    healthy = [_entry(i, f"g{i}") for i in range(40)]
    one_bad = [*healthy[:39], _entry(99, None)]
    assert choose_key_policy(KeyPolicy.URL_GUID, check_guids(healthy)) is KeyPolicy.URL_GUID
    assert choose_key_policy(KeyPolicy.URL_GUID, check_guids(one_bad)) is KeyPolicy.URL_GUID  # 2.5 %
    reused = [_entry(i, "same-guid") for i in range(10)]
    assert choose_key_policy(KeyPolicy.URL_GUID, check_guids(reused)) is KeyPolicy.LINK_DATE
    # a tiny feed with a single link-only entry is not a broken feed
    assert choose_key_policy(KeyPolicy.URL_GUID, check_guids([_entry(1, None)])) is KeyPolicy.URL_GUID
    # once untrusted, always keyed by link and date (going back would store its items again)
    assert choose_key_policy(KeyPolicy.LINK_DATE, check_guids(healthy)) is KeyPolicy.LINK_DATE


def test_link_and_date_keys_tell_apart_items_that_reuse_a_link() -> None:
    first = identify("pressroom", _entry(1, "x", link="https://gov.example/press", minute=1), "en", KeyPolicy.LINK_DATE)
    second = identify(
        "pressroom", _entry(2, "x", link="https://gov.example/press", minute=9), "en", KeyPolicy.LINK_DATE
    )
    assert first.key != second.key
    assert first.key.startswith("ld:pressroom://gov.example/press@2026-11-22T07:01Z")
    assert first.guid is None, "an untrusted GUID is not kept, so it cannot make a new item look known"
    trusted = identify("pressroom", _entry(1, "x", link="https://gov.example/press", minute=1), "en")
    assert trusted.key == "url://gov.example/press"
    assert trusted.guid == "x"
