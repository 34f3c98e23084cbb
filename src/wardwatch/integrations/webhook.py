"""Signed generic webhooks: a JSON POST whose body a receiver can authenticate.

Headers: ``X-Wardwatch-Timestamp`` (Unix seconds) and ``X-Wardwatch-Signature: sha256=<hex>``,
the HMAC-SHA256 under the shared secret of ``<timestamp>.<raw body>``. Binding the timestamp lets
a receiver refuse replays (:func:`verify` allows :data:`TOLERANCE_S` of clock skew).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from wardwatch.integrations.events import Event

SIGNATURE_HEADER = "X-Wardwatch-Signature"
TIMESTAMP_HEADER = "X-Wardwatch-Timestamp"
TOLERANCE_S = 300
SCHEMA = "wardwatch.event/1"


class WebhookError(Exception):
    """A webhook could not be delivered (one line: the URL and why)."""


def payload(event: Event) -> dict[str, Any]:
    """The JSON body for an event."""
    return {
        "schema": SCHEMA,
        "kind": event.kind.value,
        "at": event.at,
        "severity": event.severity.name.lower(),
        "message": event.message,
        "device": event.device_id,
        "fields": event.fields,
    }


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header value for a body sent at ``timestamp``."""
    digest = hmac.new(secret, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: bytes, headers: dict[str, str], body: bytes, *, now: float | None = None) -> bool:
    """Whether a received webhook is authentic and fresh (for receivers, and for the tests)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        timestamp = int(lowered.get(TIMESTAMP_HEADER.lower(), ""))
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - timestamp) > TOLERANCE_S:
        return False
    expected = sign(secret, timestamp, body)
    return hmac.compare_digest(expected, lowered.get(SIGNATURE_HEADER.lower(), ""))


def request(event: Event, secret: bytes, *, now: float | None = None) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of the POST for an event."""
    body = json.dumps(payload(event), separators=(",", ":"), sort_keys=True).encode("utf-8")
    timestamp = int(now if now is not None else time.time())
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        "User-Agent": "wardwatch-webhook/1",
    }
    return body, headers


def send(url: str, event: Event, secret: bytes, *, timeout: float = 10.0) -> int:
    """POST one event; returns the HTTP status. Raises :class:`WebhookError` on failure or non-2xx."""
    import httpx

    body, headers = request(event, secret)
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as e:
        raise WebhookError(f"webhook {url}: {type(e).__name__}: {e}") from None
    if not 200 <= response.status_code < 300:
        raise WebhookError(f"webhook {url}: HTTP {response.status_code}")
    return response.status_code
