"""A real webhook receiver on 127.0.0.1: verifies signatures with the reference library.

Each POST is kept with its headers, body and whether ``standardwebhooks`` accepted its
signature. ``script`` lists the answers, in order (then 200 for the rest): a status code, a
``(status, headers)`` pair, or a callable run before answering 200 (the crash tests kill the
sending process there).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

Answer = int | tuple[int, dict[str, str]] | Callable[[], None]


@dataclass
class ReceivedHook:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    status: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


class WebhookReceiver:
    def __init__(self, secret: str | None = None, script: list[Answer] | None = None) -> None:
        self.secret = secret
        self.script = list(script or [])
        self.received: list[ReceivedHook] = []
        self._lock = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/dialogue"

    @property
    def accepted(self) -> list[ReceivedHook]:
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def wait_for(self, count: int, timeout: float = 10) -> list[ReceivedHook]:
        """Block until ``count`` requests have arrived (they may come from another process)."""
        with self._lock:
            self._lock.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def _verify(self, body: bytes, headers: dict[str, str]) -> bool:
        if self.secret is None:
            return False
        try:
            Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            return False
        return True

    def _next(self) -> Answer:
        with self._lock:
            return self.script.pop(0) if self.script else 200

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = receiver._next()
                extra: dict[str, str] = {}
                if callable(answer):
                    answer()
                    status = 200
                elif isinstance(answer, tuple):
                    status, extra = answer
                else:
                    status = answer
                hook = ReceivedHook(self.path, headers, body, receiver._verify(body, headers), status)
                with receiver._lock:
                    receiver.received.append(hook)
                    receiver._lock.notify_all()
                reply = b"ok" if status < 300 else b"receiver says no"
                try:
                    self.send_response(status)
                    for key, value in extra.items():
                        self.send_header(key, value)
                    self.send_header("content-length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
