"""Commands that read only the configuration (and a running daemon's /healthz): no database, no HTTP client."""

from __future__ import annotations

import argparse
import urllib.error
import urllib.request
from typing import TextIO

from monitor.commands import EXIT_FAILURE, EXIT_OK
from monitor.config import Config, mask_url, parse_listen
from monitor.errors import MonitorError


def cmd_check(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    sources = config.sources
    enabled = config.enabled_sources
    print(f"{args.config}: OK", file=out)
    print(f"  database     {mask_url(config.database.url)}", file=out)
    print(f"  sources      {len(sources)} configured, {len(enabled)} enabled", file=out)
    groups: tuple[tuple[str, list[str]], ...] = (
        ("by language", [s.language for s in enabled]),
        ("by origin", [s.origin for s in enabled]),
        ("by kind", [s.kind for s in enabled]),
    )
    for label, values in groups:
        counts = ", ".join(f"{v} {values.count(v)}" for v in sorted(set(values)))
        print(f"    {label:<12} {counts}", file=out)
    print(f"  subscribers  {len(config.subscribers)}", file=out)
    for sub in config.subscribers:
        print(f"    {sub.name} ({sub.kind})", file=out)
    profile = config.profile
    print(
        f"  profile      {len(profile.dialogue)} dialogue terms, {len(profile.topics)} topics, "
        f"{len(profile.actors)} actors, threshold {profile.threshold:g}",
        file=out,
    )
    return EXIT_OK


def cmd_health(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    url = args.url
    if not url:
        host, port = parse_listen(config.web.listen)
        url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '', '::') else host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (a URL the operator gave)
            print(response.read().decode("utf-8", "replace").strip(), file=out)
            return EXIT_OK
    except urllib.error.HTTPError as exc:
        print(exc.read().decode("utf-8", "replace").strip(), file=out)
        return EXIT_FAILURE
    except (urllib.error.URLError, OSError) as exc:
        raise MonitorError(f"{url}: no answer ({getattr(exc, 'reason', exc)}); is `monitor run` running?") from None
