"""Hostile and broken server behaviours, as handlers for ``LocalServer`` routes.

Each function returns a handler that takes over the connection. Handlers that stall on
purpose wait on ``server.stopping`` so they end with the server; handlers that stream for
ever stop when the client hangs up (the write fails).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler

from tests.support.httpserver import LocalServer

Handler = Callable[[BaseHTTPRequestHandler], None]
MB = 1 << 20
GB = 1 << 30


def _send_head(request: BaseHTTPRequestHandler, status: int, headers: dict[str, str]) -> None:
    request.send_response(status)
    for name, value in headers.items():
        request.send_header(name, value)
    request.send_header("Connection", "close")
    request.end_headers()
    request.close_connection = True


def streaming(
    chunks: Callable[[], Iterable[bytes]],
    headers: dict[str, str] | None = None,
    status: int = 200,
) -> Handler:
    """A body without Content-Length, written chunk by chunk until done or the client leaves."""

    def handle(request: BaseHTTPRequestHandler) -> None:
        try:
            _send_head(request, status, {"Content-Type": "application/rss+xml", **(headers or {})})
            for chunk in chunks():
                request.wfile.write(chunk)
                request.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    return handle


def drip(server: LocalServer, every: float = 0.2) -> Handler:
    """Headers at once, then one byte of a never-ending feed every ``every`` seconds."""

    def chunks() -> Iterator[bytes]:
        yield b'<?xml version="1.0"?><rss version="2.0"><channel><title>drip</title>'
        while not server.stopping.wait(every):
            yield b" "

    return streaming(chunks)


def silent(server: LocalServer) -> Handler:
    """Accepts the connection, reads the request, never answers."""

    def handle(request: BaseHTTPRequestHandler) -> None:
        server.stopping.wait(60)

    return handle


def header_drip(server: LocalServer, every: float = 0.2) -> Handler:
    """Sends the status line, then one byte of an endless header every ``every`` seconds."""

    def handle(request: BaseHTTPRequestHandler) -> None:
        try:
            request.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            request.wfile.flush()
            while not server.stopping.wait(every):
                request.wfile.write(b"a")
                request.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    return handle


def endless_headers(server: LocalServer) -> Handler:
    """Header lines as fast as the client takes them, never a blank line."""

    def handle(request: BaseHTTPRequestHandler) -> None:
        try:
            request.wfile.write(b"HTTP/1.1 200 OK\r\n")
            n = 0
            while not server.stopping.is_set() and n < 10_000_000:
                request.wfile.write(b"X-Header-%d: %s\r\n" % (n, b"v" * 100))
                n += 1
        except (BrokenPipeError, ConnectionResetError):
            pass

    return handle


def gzip_bomb_chunks(total: int = 10 * GB, layers: int = 1) -> Iterator[bytes]:
    """A gzip stream (``layers`` times gzipped) of ``total`` zero bytes, produced lazily.

    One layer shrinks zeros about a thousand times: 10 GB travel as about 10 MB.
    """
    compressors = [zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS) for _ in range(layers)]
    zeros = bytes(MB)
    for n in range(total // MB):
        data = zeros
        for comp in compressors:
            data = comp.compress(data)
            if layers > 1 and n % 16 == 15:  # let the inner layers' output reach the wire
                data += comp.flush(zlib.Z_SYNC_FLUSH)
        if data:
            yield data
    tail = b""
    for comp in compressors:
        tail = comp.compress(tail) + comp.flush()
    yield tail


def gzip_bomb(total: int = 10 * GB, layers: int = 1) -> Handler:
    encoding = ", ".join(["gzip"] * layers)
    return streaming(lambda: gzip_bomb_chunks(total, layers), {"Content-Encoding": encoding})


def rss(items: str, title: str = "Hostile", head: str = '<?xml version="1.0" encoding="utf-8"?>\n') -> str:
    return f'{head}<rss version="2.0"><channel><title>{title}</title><link>https://hostile.example/</link>{items}</channel></rss>'


def rss_item(n: int, title: str | None = None, **fields: str) -> str:
    parts = {
        "title": title if title is not None else f"Story {n}",
        "link": f"https://hostile.example/news/{n}",
        "guid": f"hostile-{n}",
        "description": f"Text of story {n}.",
        **fields,
    }
    return "<item>" + "".join(f"<{k}>{v}</{k}>" for k, v in parts.items() if v is not None) + "</item>"
