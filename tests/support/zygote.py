"""Runs ``monitor`` commands in forked children of a process that imported ``monitor.cli`` once.

Crash tests start and kill the poller dozens of times; a fresh interpreter spends most of a
second importing, which would put most kills before any work. This process imports once and
then, for each line ``{"argv": [...], "kill_after": seconds | null}`` on stdin, forks a child
that runs ``monitor.cli.main(argv)``, sends it SIGKILL after ``kill_after`` seconds if it is
still running (the zygote itself kills, so no pid is ever reused by mistake), and answers one
line ``{"killed": bool, "exit_code": int | null, "elapsed": seconds}``.

Run as ``python -m tests.support.zygote`` from the repository root. It is single-threaded, so
forking it is safe.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from monitor.cli import main

POLL_INTERVAL = 0.002


def run_child(argv: list[str]) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        code = 70
    os._exit(code)


def supervise(pid: int, kill_after: float | None, started: float) -> dict[str, object]:
    killed = False
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if kill_after is not None and not killed and time.monotonic() - started >= kill_after:
            os.kill(pid, signal.SIGKILL)
            killed = True
        time.sleep(POLL_INTERVAL)
    exit_code = os.waitstatus_to_exitcode(status)
    # A child that finished just before the kill landed counts as finished.
    killed = killed and exit_code == -signal.SIGKILL
    return {"killed": killed, "exit_code": None if killed else exit_code, "elapsed": time.monotonic() - started}


def serve() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            run_child(request["argv"])
        report = supervise(pid, request.get("kill_after"), started)
        sys.stdout.write(json.dumps(report) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
