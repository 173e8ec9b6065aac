"""Every invalid configuration we can think of: file, key path and reason, exit status 2.

And ``monitor check`` never prints a secret, whether the file is valid or not.
"""

from __future__ import annotations

import base64
import copy
import io
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.cli import main
from monitor.config import parse_config
from monitor.errors import ConfigError
from monitor.scheduler import cron_trigger, validate_cron
from tests.support.configs import ROOT, default_raw

BASE = default_raw()
PAGE = next(i for i, s in enumerate(BASE["sources"]) if s.get("kind") == "page")
PAGE_NAME = BASE["sources"][PAGE]["name"]
FIRST = BASE["sources"][0]["name"]
HOOK_SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
SECRET = "pa55-Very-Secret-9f3e"

Mutation = Callable[[dict[str, Any]], str | None]


def setting(path: list[str | int], value: object) -> Mutation:
    def mutate(raw: dict[str, Any]) -> None:
        node: Any = raw
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return mutate


def removing(path: list[str | int]) -> Mutation:
    def mutate(raw: dict[str, Any]) -> None:
        node: Any = raw
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return mutate


def subscriber(**fields: object) -> list[dict[str, object]]:
    return [{"name": "desk", "kind": "email", "to": ["desk@example.org"], **fields}]


def text(document: str) -> Mutation:
    return lambda raw: document


ALIAS_BOMB = "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'x'] * 10)}]\n" for i in range(9)
)  # 10^9 values once expanded

# (case id, mutation, expected key path, expected words in the reason)
CASES: list[tuple[str, Mutation, str, tuple[str, ...]]] = [
    ("unknown-top-level-key", setting(["htpp"], {}), "htpp", ("unknown key",)),
    ("unknown-nested-key", setting(["http", "timeout_secnds"], 5), "http.timeout_secnds", ("unknown key",)),
    ("unknown-source-key", setting(["sources", 0, "urll"], "x"), f"sources[0] ({FIRST}).urll", ("unknown key",)),
    ("wrong-type-number", setting(["http", "timeout_seconds"], "fast"), "http.timeout_seconds", ("number", "'fast'")),
    ("wrong-type-bool", setting(["sources", 0, "enabled"], "maybe"), f"sources[0] ({FIRST}).enabled", ("boolean",)),
    ("wrong-type-list", setting(["sources"], {"a": 1}), "sources", ("tuple",)),
    ("wrong-type-section", setting(["http"], None), "http", ("dictionary",)),
    ("out-of-range", setting(["http", "max_redirects"], 99), "http.max_redirects", ("less than or equal to 20",)),
    ("negative", setting(["http", "max_body_bytes"], -1), "http.max_body_bytes", ("greater than 0",)),
    (
        "sources-in-flight-zero",
        setting(["polling", "sources_in_flight"], 0),
        "polling.sources_in_flight",
        ("greater than or equal to 1", "0"),
    ),
    (
        "sources-in-flight-too-many",
        setting(["polling", "sources_in_flight"], 100_000),
        "polling.sources_in_flight",
        ("less than or equal to 1000",),
    ),
    (
        "sources-in-flight-not-a-number",
        setting(["polling", "sources_in_flight"], "all"),
        "polling.sources_in_flight",
        ("integer", "'all'"),
    ),
    (
        "missing-required",
        removing(["sources", 1, "url"]),
        f"sources[1] ({BASE['sources'][1]['name']}).url",
        ("required key is missing",),
    ),
    ("missing-profile", removing(["profile"]), "profile", ("required key is missing",)),
    ("term-limits-nothing", setting(["profile", "eu"], [{"term": "BE"}]), "profile.eu[0]", ("'languages'",)),
    (
        "exact-case-phrase",
        setting(["profile", "eu"], [{"term": "Bosnia and Herzegovina", "case": "exact"}]),
        "profile.eu[0]",
        ("for one word",),
    ),
    (
        "bad-term-case",
        setting(["profile", "eu"], [{"term": "BiH", "case": "exakt"}]),
        "profile.eu[0].case",
        ("'exact'",),
    ),
    ("bad-literal", setting(["sources", 0, "language"], "de"), f"sources[0] ({FIRST}).language", ("'de'", "'sq'")),
    ("bad-name", setting(["sources", 0, "name"], "Bad Name!"), "sources[0] (Bad Name!).name", ("expected form",)),
    (
        "duplicate-source-names",
        setting(["sources", 2, "name"], FIRST),
        f"sources[2] ({FIRST}).name",
        ("duplicate name", "sources[0]"),
    ),
    ("bad-timezone", setting(["digest", "timezone"], "Mars/Olympus"), "digest.timezone", ("IANA", "Mars/Olympus")),
    ("path-as-timezone", setting(["digest", "timezone"], "../../etc/passwd"), "digest.timezone", ("IANA",)),
    (
        "bad-schedule-timezone",
        setting(["subscribers"], subscriber(schedule={"timezone": "Europe/Prishtna"})),
        "subscribers[0] (desk).schedule.timezone",
        ("IANA",),
    ),
    (
        "cron-field-count",
        setting(["subscribers"], subscriber(schedule={"cron": "0 7 * *"})),
        "subscribers[0] (desk).schedule.cron",
        ("5 fields",),
    ),
    (
        "cron-out-of-range",
        setting(["subscribers"], subscriber(schedule={"cron": "61 7 * * *"})),
        "subscribers[0] (desk).schedule.cron",
        ("not a valid cron expression", "maximum value (59)"),
    ),
    (
        "cron-bad-weekday",
        setting(["subscribers"], subscriber(schedule={"cron": "0 7 * * 8"})),
        "subscribers[0] (desk).schedule.cron",
        ("unknown weekday '8'",),
    ),
    (
        "cron-garbage",
        setting(["subscribers"], subscriber(schedule={"cron": "every day at 7 am"})),
        "subscribers[0] (desk).schedule.cron",
        ("not a valid cron expression", "minute"),
    ),
    (
        "cron-never-fires",
        setting(["subscribers"], subscriber(schedule={"cron": "0 7 30 2 *"})),
        "subscribers[0] (desk).schedule.cron",
        ("never fires",),
    ),
    ("url-scheme", setting(["sources", 0, "url"], "ftp://example.org/feed"), f"sources[0] ({FIRST}).url", ("http",)),
    ("url-no-host", setting(["sources", 0, "url"], "https:///feed"), f"sources[0] ({FIRST}).url", ("host",)),
    ("url-space", setting(["sources", 0, "url"], "https://exa mple.org/"), f"sources[0] ({FIRST}).url", ("spaces",)),
    (
        "url-bad-port",
        setting(["sources", 0, "url"], "https://example.org:99999/"),
        f"sources[0] ({FIRST}).url",
        ("port",),
    ),
    (
        "selector-unclosed",
        setting(["sources", PAGE, "selectors", "links"], "a[href"),
        f"sources[{PAGE}] ({PAGE_NAME}).selectors.links",
        ("not a valid CSS selector", "Malformed attribute"),
    ),
    (
        "selector-combinator",
        setting(["sources", PAGE, "selectors", "links"], "div >> p"),
        f"sources[{PAGE}] ({PAGE_NAME}).selectors.links",
        ("not a valid CSS selector",),
    ),
    (
        "selector-empty",
        setting(["sources", PAGE, "selectors", "title"], " "),
        f"sources[{PAGE}] ({PAGE_NAME}).selectors.title",
        ("empty",),
    ),
    (
        "env-missing",
        setting(["database", "url"], "postgresql+psycopg://monitor:${NO_SUCH_VARIABLE}@db/monitor"),
        "database.url",
        ("NO_SUCH_VARIABLE is not set",),
    ),
    ("env-outside-secrets", setting(["http", "user_agent"], "${AGENT}"), "http.user_agent", ("only for secrets",)),
    ("yaml-syntax", text("http: {timeout_seconds: 5\nsources: []\n"), "line 2, column 8", ("not valid YAML",)),
    ("yaml-duplicate-key", text("http: {}\npolling: {}\nhttp: {}\n"), "line 3, column 1", ("duplicate key 'http'",)),
    ("yaml-top-level-list", text("- a\n- b\n"), "", ("expected a mapping of sections",)),
    ("yaml-alias-bomb", text(ALIAS_BOMB), "", ("more than 100,000 values",)),
    ("yaml-alias-cycle", text("sources: &s [*s]\n"), "", ("contains it",)),
    ("yaml-too-deep", text("a: " + "[" * 2000 + "]" * 2000), "", ("nested too deeply",)),
]


def problems_for(mutation: Mutation, env: dict[str, str] | None = None) -> list[str]:
    raw = copy.deepcopy(BASE)
    document = mutation(raw)
    if document is None:
        document = yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)
    with pytest.raises(ConfigError) as info:
        parse_config(document, "bad.yaml", env or {})
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(("mutation", "path", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_invalid_case_names_file_key_path_and_reason(
    mutation: Mutation, path: str, words: tuple[str, ...]
) -> None:
    started = time.monotonic()
    problems = problems_for(mutation)
    assert time.monotonic() - started < 5  # the alias bomb is refused, not walked
    prefix = f"bad.yaml: {path}: " if path else "bad.yaml: "
    matching = [p for p in problems if p.startswith(prefix)]
    assert matching, problems
    assert any(all(w in p for w in words) for p in matching), matching


@dataclass(frozen=True)
class CheckRun:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_check(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., CheckRun]:
    """``monitor --config FILE check`` in this process, with exactly the given environment."""

    def run(tmp_path: Path, document: str, env: dict[str, str]) -> CheckRun:
        path = tmp_path / "config.yaml"
        path.write_text(document, encoding="utf-8")
        for name in list(os.environ):
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        out = io.StringIO()
        code = main(["--config", str(path), "check"], out=out)
        captured = capsys.readouterr()
        return CheckRun(code, out.getvalue() + captured.out, captured.err)

    return run


def test_the_cli_reports_every_problem_and_exits_2(tmp_path: Path) -> None:
    raw = copy.deepcopy(BASE)
    raw["http"]["timeout_secnds"] = 5
    raw["sources"][0]["url"] = "https://example.org:99999/"
    raw["sources"][PAGE]["selectors"]["links"] = "a[href"
    raw["digest"]["timezone"] = "Mars/Olympus"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(path), "check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 4, result.stderr
    assert all(line.startswith(f"error: {tmp_path / 'config.yaml'}: ") for line in lines)


@pytest.mark.parametrize(
    "document", ["", "\x00\x01binary", "a: [\n", "sources: &s [*s]\n"], ids=["empty", "binary", "unclosed", "cycle"]
)
def test_unreadable_files_exit_2_without_a_traceback(tmp_path: Path, document: str, run_check: Any) -> None:
    result = run_check(tmp_path, document, {})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")


def secret_config(**overrides: object) -> str:
    raw = copy.deepcopy(BASE)
    raw["database"]["url"] = "postgresql+psycopg://monitor:${DB_PASSWORD}@db.example/monitor"
    raw["smtp"].update({"username": "${SMTP_USER}", "password": "${SMTP_PASSWORD}"})
    raw["subscribers"] = [
        {"name": "desk", "kind": "email", "to": ["desk@example.org"]},
        {"name": "cms", "kind": "webhook", "url": "${HOOK_URL}", "secret": "${HOOK_SECRET}", "format": "json"},
    ]
    raw.update(overrides)
    return yaml.safe_dump(raw, allow_unicode=True)


SECRETS = {
    "DB_PASSWORD": SECRET,
    "SMTP_USER": "mailer-" + SECRET,
    "SMTP_PASSWORD": SECRET + "-smtp",
    "HOOK_URL": f"https://hooks.example.org/services/{SECRET}",
    "HOOK_SECRET": HOOK_SECRET,
}


def test_check_of_a_valid_file_prints_no_secret(tmp_path: Path, run_check: Any) -> None:
    result = run_check(tmp_path, secret_config(), SECRETS)
    assert result.returncode == 0, result.stderr
    assert "db.example" in result.stdout and "cms (webhook)" in result.stdout
    for value in SECRETS.values():
        assert value not in result.stdout + result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert HOOK_SECRET.removeprefix("whsec_") not in result.stdout


@pytest.mark.parametrize(
    ("env", "where"),
    [
        ({"DB_PASSWORD": SECRET, "HOOK_URL": f"ftp://user:{SECRET}@hooks.example.org/x"}, "subscribers[1] (cms).url"),
        ({"DB_PASSWORD": SECRET, "HOOK_URL": f"https://hooks.example.org/{SECRET} x"}, "subscribers[1] (cms).url"),
    ],
    ids=["bad-scheme", "space"],
)
def test_check_of_an_invalid_secret_never_echoes_it(
    tmp_path: Path, env: dict[str, str], where: str, run_check: Any
) -> None:
    result = run_check(tmp_path, secret_config(), {**SECRETS, **env})
    assert result.returncode == 2
    assert where in result.stderr
    assert "hooks.example.org/… (rest hidden)" in result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_a_secret_of_the_wrong_type_is_not_echoed() -> None:
    problems = problems_for(setting(["smtp", "password"], 918273645))
    assert any(p.startswith("bad.yaml: smtp.password: ") for p in problems)
    assert not any("918273645" in p for p in problems)


def test_a_database_url_with_a_password_parameter_is_masked(tmp_path: Path, run_check: Any) -> None:
    raw = copy.deepcopy(BASE)
    raw["database"]["url"] = f"postgresql+psycopg://db.example/monitor?sslmode=require&password={SECRET}"
    result = run_check(tmp_path, yaml.safe_dump(raw), {})
    assert result.returncode == 0
    assert "password=***" in result.stdout
    assert SECRET not in result.stdout


@pytest.mark.parametrize(
    ("cron", "after", "expected"),
    [
        # 2026-11-21 is a Saturday. Cron numbers weekdays from Sunday = 0; APScheduler 3's own
        # from_crontab from Monday = 0, which would move a weekday digest to Tuesday–Saturday.
        ("0 7 * * 1-5", datetime(2026, 11, 21, 8, 0, tzinfo=UTC), datetime(2026, 11, 23, 7, 0, tzinfo=UTC)),
        ("0 7 * * 0", datetime(2026, 11, 21, 8, 0, tzinfo=UTC), datetime(2026, 11, 22, 7, 0, tzinfo=UTC)),
        ("0 7 * * 7", datetime(2026, 11, 21, 8, 0, tzinfo=UTC), datetime(2026, 11, 22, 7, 0, tzinfo=UTC)),
        ("30 6 * * mon-fri", datetime(2026, 11, 23, 7, 0, tzinfo=UTC), datetime(2026, 11, 24, 6, 30, tzinfo=UTC)),
        ("0 12 * * */2", datetime(2026, 11, 22, 13, 0, tzinfo=UTC), datetime(2026, 11, 24, 12, 0, tzinfo=UTC)),
    ],
)
def test_cron_weekdays_mean_what_they_mean_in_cron(cron: str, after: datetime, expected: datetime) -> None:
    validate_cron(cron)
    assert cron_trigger(cron, "UTC").get_next_fire_time(None, after) == expected
