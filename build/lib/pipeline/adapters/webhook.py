"""The webhook adapter: POST a JSON document to an operator's URL (``--notify``).

Only this module speaks HTTP to webhooks. Its answers are sorted by what the caller must do:
2xx accepted; 5xx, 408, 429, timeouts and connection errors are :class:`Transient` (send
again later); any other answer (3xx, 4xx) is :class:`WebhookRefused`, since sending the same
document to the same URL again cannot help.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from pipeline.errors import Transient, WebhookRefused

log = logging.getLogger(__name__)

_RETRYABLE_STATUS = frozenset({408, 425, 429})
_USER_AGENT = "scangrade-webhook/1"


def shown_url(url: str) -> str:
    """The URL as logs may show it: no user, password, query or fragment (tokens live there)."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port out of range: shown as given
        port = f":{parts.netloc.rpartition(':')[2]}"
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def post_json(url: str, document: Mapping[str, Any], *, timeout_s: float) -> int:
    """POST ``document`` as JSON to ``url``; return the 2xx status the receiver gave."""
    body = json.dumps(document, ensure_ascii=False, default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": _USER_AGENT}
    try:
        answer = httpx.post(url, content=body, headers=headers, timeout=timeout_s)
    except httpx.TransportError as e:  # connection refused, DNS, timeouts, TLS
        raise Transient(f"webhook {shown_url(url)} unreachable: {type(e).__name__}") from e
    except httpx.HTTPError as e:  # an answer that broke off or could not be decoded
        raise Transient(f"webhook {shown_url(url)} answered unreadably: {type(e).__name__}") from e
    except (httpx.InvalidURL, ValueError) as e:  # a port out of range, a bad host name
        raise WebhookRefused(f"webhook {shown_url(url)}: not a usable URL ({e})") from e
    if answer.is_success:
        return answer.status_code
    said = answer.text[:200].strip() or "no body"
    if answer.status_code >= 500 or answer.status_code in _RETRYABLE_STATUS:
        raise Transient(f"webhook {shown_url(url)} answered HTTP {answer.status_code}: {said}")
    where = answer.headers.get("location")
    moved = f" (redirected to {where}: give that URL)" if where else ""
    raise WebhookRefused(
        f"webhook {shown_url(url)} refused the document with HTTP {answer.status_code}"
        f"{moved}: {said}"
    )
