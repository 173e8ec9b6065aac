"""Debian's nginx serving a directory on 127.0.0.1, with a private config and prefix.

nginx sends ETag (mtime-size) and Last-Modified for static files and answers 304 to a matching
If-None-Match or If-Modified-Since, like the web servers in front of real feeds. It is started
with ``-p PREFIX -c CONF`` and stopped by the pid in its own pid file (SIGQUIT, then SIGTERM),
so nothing else on the machine is touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

_CONFIG = """\
worker_processes 1;
daemon on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
{user}
events {{ worker_connections 4096; }}

http {{
    access_log off;
    types {{
        application/rss+xml rss;
        application/atom+xml atom;
        text/xml xml;
    }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    etag on;
    if_modified_since exact;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;

    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root {root};
        location / {{ }}
    }}
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Nginx:
    """``with Nginx(root) as server: server.url("/feeds/0001.rss")``"""

    def __init__(self, root: Path, binary: str | None = None) -> None:
        found = binary or nginx_binary()
        if found is None:
            raise RuntimeError("nginx is not installed: run 'apt-get install -y nginx' (make bench does)")
        self.binary = found
        self.root = root.resolve()
        self.port = 0
        self._prefix: Path | None = None

    @property
    def pid_file(self) -> Path:
        assert self._prefix is not None
        return self._prefix / "nginx.pid"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def version(self) -> str:
        done = subprocess.run([self.binary, "-v"], capture_output=True, text=True, check=False)
        return (done.stderr or done.stdout).strip().removeprefix("nginx version: ")

    def start(self) -> Self:
        # As root, workers run as root too so they can read the farm wherever it lies.
        user = "user root;" if os.geteuid() == 0 else ""
        problem = ""
        for _attempt in range(5):  # a port picked free can be taken before nginx binds it
            prefix = self._prefix = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
            (prefix / "tmp").mkdir()
            self.port = free_port()
            conf = prefix / "nginx.conf"
            conf.write_text(_CONFIG.format(prefix=prefix, port=self.port, root=self.root, user=user))
            done = subprocess.run(
                [self.binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode == 0 and self._wait_ready():
                return self
            log = prefix / "error.log"
            problem = done.stderr.strip() + (" " + log.read_text(errors="replace")[-500:] if log.is_file() else "")
            self.stop()
        raise RuntimeError(f"nginx did not start: {problem}")

    def _wait_ready(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid_file.is_file():
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                        return True
                except OSError:
                    pass
            time.sleep(0.05)
        return False

    def master_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError, AssertionError):
            return None

    def stop(self, timeout: float = 5.0) -> None:
        if self._prefix is None:
            return
        pid = self.master_pid()
        if pid is not None:
            _signal(pid, signal.SIGQUIT)
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                _signal(pid, signal.SIGTERM)
        shutil.rmtree(self._prefix, ignore_errors=True)
        self._prefix = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still answers signal 0; nginx daemonised, so it is not our child.
    return True
