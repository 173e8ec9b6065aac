"""Health and metrics over HTTP for ``monitor run``: the only module that imports prometheus_client.

    GET /healthz   200 {"status": "ok", …} or 503 {"status": "unhealthy", "problems": […]}:
                   the scheduler runs, the database answers, and the last successful poll cycle
                   is recent (``web.stale_after_seconds``).
    GET /metrics   the Prometheus text format (series listed in README.md, "Metrics").

The server is a few lines on asyncio's own streams: it runs in the daemon's event loop, so a
wedged loop shows as a health check that does not answer, which is the truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from monitor import __version__
from monitor.types import OutcomeStatus, SourceOutcome

_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_REQUEST_HEAD_LIMIT = 16 * 1024
_REQUEST_TIMEOUT = 5.0


class Metrics:
    """The daemon's Prometheus series, in a registry of its own (no process-wide state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.polls = Counter(
            "monitor_polls", "Polls of sources, by source and outcome.", ["source", "status"], registry=r
        )
        self.poll_errors = Counter(
            "monitor_poll_errors", "Failed polls, by source and error kind.", ["source", "kind"], registry=r
        )
        self.items_stored = Counter("monitor_items_stored", "Items stored (new), by source.", ["source"], registry=r)
        self.matches = Counter("monitor_matches", "New items about the dialogue, by source.", ["source"], registry=r)
        self.deliveries = Counter(
            "monitor_deliveries",
            "Deliveries (digests, alerts) attempted, by subscriber, kind and status.",
            ["subscriber", "kind", "status"],
            registry=r,
        )
        self.poll_seconds = Histogram(
            "monitor_poll_duration_seconds",
            "Time to poll one source (fetch, parse, store).",
            ["status"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.send_seconds = Histogram(
            "monitor_send_duration_seconds",
            "Time to send one delivery.",
            ["kind"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.sources = Gauge(
            "monitor_sources", "Enabled sources, by state (ok, failing, paused).", ["state"], registry=r
        )
        self.in_flight = Gauge("monitor_polls_in_flight", "Polls running now in this process.", registry=r)
        self.last_cycle = Gauge(
            "monitor_last_cycle_timestamp_seconds",
            "Unix time of the last successful poll cycle (due sources looked up and handed out).",
            registry=r,
        )
        self.retention_deleted = Counter(
            "monitor_retention_deleted_items", "Unmatched items deleted by retention (a tombstone kept).", registry=r
        )
        Info("monitor", "dialogue-monitor build information.", registry=r).info({"version": __version__})
        for state in ("ok", "failing", "paused"):
            self.sources.labels(state).set(0)

    def observe_poll(self, outcome: SourceOutcome) -> None:
        self.polls.labels(outcome.source, outcome.status.value).inc()
        self.poll_seconds.labels(outcome.status.value).observe(outcome.elapsed)
        if outcome.status is OutcomeStatus.ERROR:
            self.poll_errors.labels(outcome.source, outcome.error_kind or "error").inc()
        if outcome.new_items:
            self.items_stored.labels(outcome.source).inc(outcome.new_items)
        if outcome.new_matches:
            self.matches.labels(outcome.source).inc(outcome.new_matches)

    def observe_delivery(self, subscriber: str, kind: str, status: str, seconds: float) -> None:
        self.deliveries.labels(subscriber, kind, status).inc()
        self.send_seconds.labels(kind).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


@dataclass(frozen=True, slots=True)
class HealthReport:
    healthy: bool
    details: dict[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def body(self) -> bytes:
        document = {"status": "ok" if self.healthy else "unhealthy", **self.details}
        if self.problems:
            document["problems"] = list(self.problems)
        return json.dumps(document, indent=2).encode("utf-8") + b"\n"


HealthCheck = Callable[[], Awaitable[HealthReport]]


class WebServer:
    """``/healthz`` and ``/metrics`` on ``host:port`` (port 0 picks a free one)."""

    def __init__(self, host: str, port: int, health: HealthCheck, metrics: Metrics) -> None:
        self.host, self.port = host, port
        self._health, self._metrics = health, metrics
        self._server: asyncio.Server | None = None

    async def start(self) -> WebServer:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_REQUEST_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            status, content_type, body = await self._answer(head)
            method = head.split(b" ", 1)[0]
            writer.write(_response(status, content_type, b"" if method == b"HEAD" else body, len(body)))
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, head: bytes) -> tuple[HTTPStatus, str, bytes]:
        if len(head) > _REQUEST_HEAD_LIMIT:
            return HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "text/plain", b"request too large\n"
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3:
            return HTTPStatus.BAD_REQUEST, "text/plain", b"bad request\n"
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        if method not in (b"GET", b"HEAD"):
            return HTTPStatus.METHOD_NOT_ALLOWED, "text/plain", b"only GET and HEAD\n"
        if target == b"/healthz":
            report = await self._health()
            status = HTTPStatus.OK if report.healthy else HTTPStatus.SERVICE_UNAVAILABLE
            return status, "application/json", report.body()
        if target == b"/metrics":
            return HTTPStatus.OK, CONTENT_TYPE_LATEST, self._metrics.render()
        return HTTPStatus.NOT_FOUND, "text/plain", b"not found; try /healthz or /metrics\n"


def _response(status: HTTPStatus, content_type: str, body: bytes, length: int) -> bytes:
    head = (
        f"HTTP/1.1 {status.value} {status.phrase}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body
