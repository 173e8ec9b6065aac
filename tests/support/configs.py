"""Writing test configurations: real sources replaced by ones on the local test server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = ROOT / "config.yaml"


def default_raw() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))


def feed_source(
    name: str, url: str, language: str = "en", origin: str = "international", **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "title": name.title(),
        "kind": "feed",
        "url": url,
        "language": language,
        "origin": origin,
        **extra,
    }


def write_config(tmp_path: Path, sources: list[dict[str, Any]], **sections: Any) -> Path:
    """A config with the real profile, the given sources and a SQLite database in tmp_path."""
    raw = default_raw()
    raw["sources"] = sources
    raw["database"] = {"url": f"sqlite:///{tmp_path / 'monitor.db'}"}
    # Every test source lives on 127.0.0.1: without pacing off, each request would wait its turn
    # of http.min_host_delay_seconds. Pacing has its own tests with an injected clock.
    raw["http"] = {**raw["http"], "timeout_seconds": 3, "connect_timeout_seconds": 2, "min_host_delay_seconds": 0}
    raw["subscribers"] = []
    raw.update(sections)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
