from __future__ import annotations

import pytest

from monitor.config import load_config
from monitor.match import Matcher
from tests.support.configs import DEFAULT_CONFIG


@pytest.fixture(scope="session")
def matcher() -> Matcher:
    """The matcher compiled from the profile shipped in config.yaml (what users run)."""
    return Matcher.compile(load_config(DEFAULT_CONFIG).profile)
