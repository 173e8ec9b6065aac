"""The CLI's commands, one module per group; each module imports only what its commands use.

``monitor.cli`` parses the arguments and imports the one module the command needs: ``monitor
check`` reads the configuration without the database or the HTTP client, ``monitor poll``
loads neither the digest's templates nor the daemon's scheduler and metrics, ``monitor
classify`` no database. Every import costs start-up time and memory that the process keeps
until it exits (about 10 MB and 0.5 s of CPU for what ``monitor poll`` did not use).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from monitor.config import Config

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

Handler = Callable[[argparse.Namespace, "Config", TextIO], int]
