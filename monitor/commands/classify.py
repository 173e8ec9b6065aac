"""Matching without the database: ``monitor classify`` (JSON lines in and out) and ``monitor eval``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from monitor.commands import EXIT_FAILURE, EXIT_OK
from monitor.config import Config
from monitor.match import Matcher
from monitor.match.evaluate import evaluate, load_labelled, report


def cmd_classify(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    matcher = Matcher.compile(config.profile)
    bad = 0
    for number, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not isinstance(record.get("title", ""), str):
                raise ValueError("expected an object with string fields title and text")
            text = record.get("text") or ""
            lang = record.get("lang")
            if not isinstance(text, str) or not (lang is None or isinstance(lang, str)):
                raise ValueError("text and lang must be strings")
        except ValueError as exc:
            bad += 1
            print(f"error: standard input line {number}: {exc}", file=sys.stderr)
            continue
        result = matcher.match(record.get("title") or "", text, lang)
        answer = {
            "id": record.get("id"),
            "relevant": result.relevant,
            "score": result.score,
            "topics": list(result.topics),
            "actors": list(result.actors),
            "snippets": list(result.marked_snippets),
            "rule": result.rule,
            "meeting_level": result.meeting_level,
        }
        print(json.dumps(answer, ensure_ascii=False), file=out)
    return EXIT_FAILURE if bad else EXIT_OK


def cmd_eval(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    matcher = Matcher.compile(config.profile)
    items = load_labelled([Path(p) for p in args.paths])
    scores = evaluate(matcher, items)
    print(f"profile {matcher.version}, {len(items)} labelled items", file=out)
    print(report(scores, show_errors=not args.quiet), file=out)
    below = [
        name
        for name, s in scores.items()
        if (args.min_precision is not None and s.precision < args.min_precision)
        or (args.min_recall is not None and s.recall < args.min_recall)
    ]
    if below:
        print(f"below the floor: {', '.join(below)}", file=out)
        return EXIT_FAILURE
    return EXIT_OK
