"""BOS-style ``bce-auth-v1`` signed URLs for result images.

The provider hands out ``imageUrl``/``cropUrl`` links signed for ``<seconds>`` from the signing
time; after that they answer 403. The simulator signs the same way (HMAC-SHA256 over a
canonical request, following BCE's scheme) with its own fixed BOS credentials, so clients see
the same URL shape, the same percent-encoding and the same expiry behaviour.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import time
import urllib.parse
from dataclasses import dataclass

BOS_ACCESS_KEY = "ALTAKsimulator0000000000"
_BOS_SECRET_KEY = b"scangrade-simulator-bos-secret-key"
_VERSION = "bce-auth-v1"
_SIGNED_HEADERS = "host"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Denial:
    """Why a signed request is refused, as BOS would say it (HTTP 403)."""

    code: str
    message: str


def _signature(auth_prefix: str, host: str, path: str) -> str:
    signing_key = hmac.new(_BOS_SECRET_KEY, auth_prefix.encode(), hashlib.sha256).hexdigest()
    canonical = "\n".join(
        ["GET", urllib.parse.quote(path, safe="/-_.~"), "", f"host:{urllib.parse.quote(host)}"]
    )
    return hmac.new(signing_key.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def authorization(host: str, path: str, signed_at: float, lifetime_s: int) -> str:
    """The raw ``authorization`` value (before percent-encoding) for one object."""
    stamp = time.strftime(_TIME_FORMAT, time.gmtime(int(signed_at)))
    prefix = f"{_VERSION}/{BOS_ACCESS_KEY}/{stamp}/{lifetime_s}"
    return f"{prefix}/{_SIGNED_HEADERS}/{_signature(prefix, host, path)}"


def signed_url(scheme: str, host: str, path: str, signed_at: float, lifetime_s: int) -> str:
    """A full URL whose ``authorization`` is percent-encoded entirely, as in the provider's."""
    auth = urllib.parse.quote(authorization(host, path, signed_at, lifetime_s), safe="")
    return f"{scheme}://{host}{path}?authorization={auth}"


def verify(auth: str | None, host: str, path: str, now: float) -> Denial | None:
    """Check an ``authorization`` value for a GET of ``path`` on ``host`` at time ``now``."""
    if not auth:
        return Denial("AccessDenied", "Access denied: missing authorization.")
    parts = auth.split("/")
    if len(parts) != 6 or parts[0] != _VERSION or parts[4] != _SIGNED_HEADERS:
        return Denial("AccessDenied", "Access denied: malformed authorization.")
    _, access_key, stamp, seconds, _, signature = parts
    try:
        signed_at = calendar.timegm(time.strptime(stamp, _TIME_FORMAT))
        lifetime = int(seconds)
    except ValueError:
        return Denial("AccessDenied", "Access denied: malformed authorization.")
    if access_key != BOS_ACCESS_KEY:
        return Denial("InvalidAccessKeyId", "The access key id you provided does not exist.")
    expected = _signature("/".join(parts[:4]), host, path)
    if not hmac.compare_digest(expected, signature):
        return Denial(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
    if now >= signed_at + lifetime:
        return Denial("AccessDenied", "Request has expired.")
    return None


def error_xml(denial: Denial) -> str:
    """The XML body BOS answers with, so clients can log what went wrong."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{denial.code}</Code><Message>{denial.message}</Message>"
        "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></Error>"
    )
