"""Webhooks: Standard Webhooks signatures and an httpx transport (the only httpx use outside fetch.py).

Every request carries ``webhook-id`` (the same on every retry of one event),
``webhook-timestamp`` (seconds since the epoch, of this attempt) and ``webhook-signature``:
``v1,`` + base64 of HMAC-SHA256 over ``"{id}.{timestamp}.{body}"`` with the key bytes of the
``whsec_<base64>`` secret. Receivers verify it with any Standard Webhooks library.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from types import TracebackType

import httpx

from monitor.config import check_webhook_secret
from monitor.errors import DeliveryError

# The receiver is gone for good: retrying cannot help (Standard Webhooks senders agree on 410).
PERMANENT_STATUSES = frozenset({410})


def webhook_id_for(key: str) -> str:
    """A webhook-id derived from the delivery key: one event always has the same id."""
    return "msg_" + hashlib.sha256(key.encode()).hexdigest()[:32]


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    key = check_webhook_secret(secret)
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def signed_headers(webhook_id: str, now: datetime, body: bytes, secret: str | None) -> dict[str, str]:
    timestamp = int(now.timestamp())
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
    }
    if secret is not None:
        headers["webhook-signature"] = sign(secret, webhook_id, timestamp, body)
    return headers


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from now: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


class HttpWebhookTransport:
    """POSTs signed bodies; anything but a 2xx answer becomes a ``DeliveryError``."""

    def __init__(self, *, timeout_seconds: float, user_agent: str) -> None:
        self._timeout_seconds = timeout_seconds
        self._user_agent = user_agent
        # Made on the first post: a client loads the CA bundle (tens of ms), which a poll
        # that sends no webhook (most of them) would pay for nothing.
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self._timeout_seconds),
                    follow_redirects=False,  # a redirect would resend the signed body somewhere else
                    headers={"user-agent": self._user_agent},
                )
            return self._client

    def post(self, url: str, body: bytes, headers: Mapping[str, str], now: datetime) -> None:
        where = _redacted(url)
        try:
            response = self._http().post(url, content=body, headers=dict(headers))
        except httpx.TimeoutException:
            raise DeliveryError(f"webhook: {where}: no answer in time") from None
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook: {where}: {type(exc).__name__}: {exc}") from None
        if 200 <= response.status_code < 300:
            return
        excerpt = " ".join(response.text[:200].split())
        raise DeliveryError(
            f"webhook: {where} answered HTTP {response.status_code}{': ' + excerpt if excerpt else ''}",
            permanent=response.status_code in PERMANENT_STATUSES,
            retry_after=retry_after_seconds(response.headers.get("retry-after"), now),
        )

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __enter__(self) -> HttpWebhookTransport:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def _redacted(url: str) -> str:
    """Scheme, host and port only: webhook URLs often carry a token in the path (Slack does)."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}/…"
