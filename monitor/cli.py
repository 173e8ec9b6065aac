"""The command line: parses the arguments and runs the command; imported by nothing.

Each command lives in a module of ``monitor.commands``, imported only when that command runs
(``load_command``): a process imports what its command uses, not what every command could.

This module itself imports nothing heavy, not even the configuration: the parse workers of a
poll started with the ``monitor`` script import the script, and so this module, again (as
multiprocessing does for a main script), and whatever it imported would be held by each worker.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import TextIO, cast

from monitor import __version__
from monitor.commands import EXIT_FAILURE, EXIT_USAGE, Handler
from monitor.errors import ConfigError, MonitorError
from monitor.log import LogFormat
from monitor.types import LANGUAGES, ORIGINS

# command (or "sources ACTION") → (module of monitor.commands, function)
_COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("check", "cmd_check"),
    "health": ("check", "cmd_health"),
    "classify": ("classify", "cmd_classify"),
    "eval": ("classify", "cmd_eval"),
    "poll": ("polling", "cmd_poll"),
    "run": ("daemon", "cmd_run"),
    "digest": ("delivery", "cmd_digest"),
    "deliveries": ("delivery", "cmd_deliveries"),
    "items": ("records", "cmd_items"),
    "sources": ("records", "cmd_sources"),
    "stories": ("records", "cmd_stories"),
    "db": ("records", "cmd_db"),
    "rematch": ("records", "cmd_rematch"),
    "explain": ("records", "cmd_explain"),
    "sources discover": ("sources", "cmd_sources_discover"),
    "sources import": ("sources", "cmd_sources_import"),
    "sources export": ("sources", "cmd_sources_export"),
    "sources test": ("sources", "cmd_sources_test"),
}


def load_command(command: str, action: str | None = None) -> Handler:
    """The handler of ``command`` (``action``: the sub-command of ``sources``), its module imported now."""
    module, function = _COMMANDS.get(f"{command} {action}") or _COMMANDS[command]
    return cast(Handler, getattr(importlib.import_module(f"monitor.commands.{module}"), function))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monitor", description="Watch the news about the Kosovo–Serbia dialogue.")
    parser.add_argument("--version", action="version", version=f"dialogue-monitor {__version__}")
    parser.add_argument("--config", default="config.yaml", help="configuration file (default: ./config.yaml)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("check", help="validate the configuration and print a summary")

    poll = commands.add_parser("poll", help="poll the sources")
    poll.add_argument("--once", action="store_true", required=True, help="poll every enabled source once and exit")

    digest = commands.add_parser("digest", help="render the digest of matched items, or send it now")
    action = digest.add_mutually_exclusive_group(required=True)
    action.add_argument("--preview", action="store_true", help="render without sending or recording anything")
    action.add_argument("--send", action="store_true", help="send each digest subscriber what it has not had yet")
    digest.add_argument("--subscriber", metavar="NAME", help="only this subscriber")
    digest.add_argument("--since", help="only items since: an ISO date/time or an age like 24h, 7d")
    digest.add_argument("--out", help="with --preview: write the HTML to FILE and the text beside it (FILE with .txt)")

    deliveries = commands.add_parser("deliveries", help="list the outbox (digests and alerts), or retry one")
    deliveries.add_argument("--failed", action="store_true", help="only dead ones and ones waiting for a retry")
    deliveries.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    deliveries_actions = deliveries.add_subparsers(dest="deliveries_action", metavar="ACTION")
    retry = deliveries_actions.add_parser("retry", help="send a dead or waiting delivery again, now")
    retry.add_argument("id", type=int, help="the delivery's id, as `monitor deliveries` shows it")

    items = commands.add_parser("items", help="list stored items, newest first")
    items.add_argument("--matched", action="store_true", help="only items about the dialogue")
    items.add_argument("--limit", type=int, default=50, help="how many (default 50)")

    sources = commands.add_parser(
        "sources",
        help="list the configured sources and how their last poll went; resume, discover, import, export, test",
        description="Without an action: list the configured sources and how their last poll went.",
    )
    source_actions = sources.add_subparsers(dest="action", metavar="ACTION")
    resume = source_actions.add_parser("resume", help="resume a paused source: it is polled again at once")
    resume.add_argument("name", help="the source's name")
    _add_sources_actions(source_actions)

    stories = commands.add_parser("stories", help="list stories (one entry per development) with their outlets")
    stories.add_argument("--since", help="only stories seen or joined since: an ISO date/time or an age like 24h, 7d")
    stories.add_argument("--matched", action="store_true", help="only stories about the dialogue")
    stories.add_argument("--limit", type=int, default=50, help="how many (default 50)")

    run = commands.add_parser("run", help="run the daemon: poll on schedule, send digests, serve health and metrics")
    run.add_argument("--log-format", choices=[f.value for f in LogFormat], default="text", help="default: text")
    run.add_argument("--listen", help="HOST:PORT of /healthz and /metrics (default: web.listen of the config)")

    db = commands.add_parser("db", help="database schema")
    db_actions = db.add_subparsers(dest="action", metavar="ACTION", required=True)
    db_actions.add_parser("upgrade", help="migrate the schema to the newest revision (also done at every start)")
    db_actions.add_parser("status", help="show the schema revision of the database and the newest one")

    health = commands.add_parser("health", help="ask a running daemon's /healthz; exit 0 when healthy")
    health.add_argument("--url", help="default: http://127.0.0.1:PORT/healthz with the port of web.listen")

    rematch = commands.add_parser("rematch", help="re-apply the current profile to stored items")
    rematch.add_argument("--since", help="only items first seen since: an ISO date/time or an age like 24h, 30d")
    rematch.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")

    explain = commands.add_parser("explain", help="show why a stored item matched or did not")
    explain.add_argument("item", metavar="URL-OR-ID", help="the item's id (from 'monitor items'), URL or key")

    commands.add_parser(
        "classify",
        help="classify JSON lines {id, title, text, lang} from standard input; one JSON line out per item",
    )

    evaluate = commands.add_parser("eval", help="precision and recall per language on a labelled set")
    evaluate.add_argument(
        "paths", nargs="*", default=["tests/match/eval"], help="labelled .yaml/.jsonl files or directories"
    )
    evaluate.add_argument("--min-precision", type=float, help="exit 1 if any language is below this precision")
    evaluate.add_argument("--min-recall", type=float, help="exit 1 if any language is below this recall")
    evaluate.add_argument("--quiet", action="store_true", help="only the table, not the wrong decisions")
    return parser


def _add_sources_actions(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    discover = commands.add_parser(
        "discover", help="list the feeds a site offers, as entries ready to paste into config.yaml"
    )
    discover.add_argument("url", help="a page of the site, usually its home page")
    discover.add_argument("--language", choices=LANGUAGES, help="language of the entries (default: the page's)")
    discover.add_argument("--origin", choices=ORIGINS, help="origin of the entries (default: international, to check)")

    import_ = commands.add_parser("import", help="read sources from an OPML file and print the new ones as entries")
    import_.add_argument("file", metavar="FILE.opml")
    import_.add_argument("--language", choices=LANGUAGES, help="for outlines that carry no language")
    import_.add_argument("--origin", choices=ORIGINS, help="for outlines that carry no origin")
    import_.add_argument(
        "--write", action="store_true", help="add the new sources to the configuration file (validated first)"
    )

    export = commands.add_parser("export", help="write the configured sources as OPML 2.0")
    export.add_argument("--out", metavar="FILE.opml", help="write to a file instead of standard output")
    export.add_argument("--enabled-only", action="store_true", help="leave out disabled sources")

    test = commands.add_parser(
        "test", help="fetch a source once and show what would be extracted and matched; stores nothing"
    )
    test.add_argument("target", metavar="NAME|URL", help="a configured source's name, or any URL")
    test.add_argument("--limit", type=int, default=5, help="how many entries or articles to show (default 5)")
    test.add_argument("--links", metavar="SELECTOR", help="for a URL: read it as a listing page with this selector")
    test.add_argument("--full-text", action="store_true", help="for a feed URL: read the linked articles too")
    test.add_argument("--language", choices=LANGUAGES, help="for a URL: the language to match in")


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    from monitor.config import load_config  # pydantic and the profile: see the module's docstring

    try:
        config = load_config(args.config)
        handler = load_command(args.command, getattr(args, "action", None))
        return handler(args, config, out)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except MonitorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
