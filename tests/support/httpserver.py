"""A real HTTP server on 127.0.0.1 for tests: serves routes, honours ETag/If-Modified-Since.

Each route is a ``Route``; behaviour a hostile or broken server shows (a status, a delay,
a hang, a drip) is a field of the route, so one server covers every case. Every request is
logged with its headers so tests can assert what the client sent.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line
    validators: bool = True  # send ETag and Last-Modified, answer 304 when they match
    last_modified: float = 1_700_000_000.0
    drip: float | None = None  # send the body one byte per this many seconds
    handler: Callable[[BaseHTTPRequestHandler], None] | None = None  # full control

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@dataclass
class LoggedRequest:
    path: str
    headers: dict[str, str]
    status: int


class LocalServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[LoggedRequest] = []
        # Set when the server stops, so handlers that stall on purpose end with it.
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, body: bytes | str = b"", **kwargs: object) -> str:
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.routes[path] = Route(body=body, **kwargs)  # type: ignore[arg-type]
        return self.url(path)

    def requests_for(self, path: str) -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _log(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.requests.append(entry)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                route = server.routes.get(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                if route is None:
                    self._send(404, b"not found", "text/plain", {})
                    server._log(LoggedRequest(self.path, headers, 404))
                    return
                if route.handler is not None:
                    server._log(LoggedRequest(self.path, headers, 0))
                    route.handler(self)
                    return
                if route.delay:
                    time.sleep(route.delay)
                extra = dict(route.headers)
                if route.validators and route.status == 200:
                    extra["ETag"] = route.etag
                    extra["Last-Modified"] = email.utils.formatdate(route.last_modified, usegmt=True)
                    if _not_modified(headers, route):
                        server._log(LoggedRequest(self.path, headers, 304))
                        self._send(304, b"", None, extra)
                        return
                server._log(LoggedRequest(self.path, headers, route.status))
                self._send(route.status, route.body, route.content_type, extra, route.drip)

            def _send(
                self,
                status: int,
                body: bytes,
                content_type: str | None,
                extra: dict[str, str],
                drip: float | None = None,
            ) -> None:
                try:
                    self.send_response(status)
                    if content_type:
                        self.send_header("Content-Type", content_type)
                    for k, v in extra.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if drip is None:
                        self.wfile.write(body)
                        return
                    for i in range(len(body)):
                        self.wfile.write(body[i : i + 1])
                        self.wfile.flush()
                        time.sleep(drip)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up mid-request (the fetcher stopping at a cap) are normal here."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def _not_modified(headers: dict[str, str], route: Route) -> bool:
    if "if-none-match" in headers:
        return headers["if-none-match"] == route.etag
    since = headers.get("if-modified-since")
    if since:
        parsed = email.utils.parsedate_to_datetime(since)
        return parsed.timestamp() >= int(route.last_modified)
    return False


def answer_feed(request: BaseHTTPRequestHandler, body: bytes) -> None:
    """Answer a route handler's request with an RSS body (for handlers that wait or count first).

    A client that hung up meanwhile (a poll cancelled, a daemon stopped) is normal in tests."""
    with contextlib.suppress(ConnectionError):
        request.send_response(200)
        request.send_header("Content-Type", "application/rss+xml")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
