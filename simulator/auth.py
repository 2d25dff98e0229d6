"""OAuth client-credentials tokens, the way the provider issues and checks them.

Clients must cache tokens, honour ``expires_in`` and refresh on 110/111; the simulator makes
that observable: several tokens per key stay valid side by side (issuing one does not revoke
the older ones), expired tokens answer 111, revoked tokens 110, and tokens can be expired or
revoked on demand.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

SCOPE = (
    "public brain_all_scope vis-ocr_ocr brain_ocr_scope brain_ocr_correct_edu "
    "wise_adapt lebo_resource_base lightservice_public hetu_basic"
)
REFRESH_LIFETIME_S = 315360000


@dataclass(frozen=True)
class TokenGrant:
    """The outcome of a token request: HTTP status and JSON body, ready to send."""

    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class TokenCheck:
    """Whose token this is, or the provider error code (100, 110, 111) that rejects it."""

    api_key: str | None
    error_code: int | None


@dataclass
class _Token:
    api_key: str
    expires_at: float
    revoked: bool = False


def _app_id(api_key: str) -> str:
    """A stable numeric app id per API key, as the provider embeds in every token."""
    return str(int(hashlib.sha256(api_key.encode()).hexdigest()[:8], 16) % 90000000 + 10000000)


class TokenStore:
    """Issues and validates access tokens for the configured API keys."""

    def __init__(self, keys: dict[str, str]) -> None:
        self._keys = dict(keys)
        self._tokens: dict[str, _Token] = {}

    def issue(
        self,
        grant_type: str | None,
        client_id: str | None,
        secret: str | None,
        *,
        now: float,
        lifetime_s: int,
    ) -> tuple[TokenGrant, str | None]:
        """Answer a token request; also return the API key it was for, when known."""
        if grant_type != "client_credentials":
            body = {
                "error": "unsupported_grant_type",
                "error_description": "The authorization grant type is not supported",
            }
            return TokenGrant(400, body), None
        if client_id is None or client_id not in self._keys:
            body = {"error": "invalid_client", "error_description": "unknown client id"}
            return TokenGrant(401, body), None
        if not secrets.compare_digest(self._keys[client_id], secret or ""):
            body = {"error": "invalid_client", "error_description": "Client authentication failed"}
            return TokenGrant(401, body), client_id
        return TokenGrant(200, self._grant(client_id, now, lifetime_s)), client_id

    def _grant(self, api_key: str, now: float, lifetime: int) -> dict[str, Any]:
        epoch = int(now)
        suffix = f"{secrets.randbelow(900000) + 100000}-{_app_id(api_key)}"
        token = f"24.{secrets.token_hex(16)}.{lifetime}.{epoch}.{suffix}"
        refresh = f"25.{secrets.token_hex(16)}.{REFRESH_LIFETIME_S}.{epoch + REFRESH_LIFETIME_S}"
        self._tokens[token] = _Token(api_key, now + lifetime)
        return {
            "refresh_token": f"{refresh}.{suffix}",
            "expires_in": lifetime,
            "session_key": secrets.token_urlsafe(48),
            "access_token": token,
            "scope": SCOPE,
            "session_secret": secrets.token_hex(16),
        }

    def check(self, token: str | None, *, now: float) -> TokenCheck:
        """Validate the ``access_token`` query parameter of an API call."""
        if not token:
            return TokenCheck(None, 100)
        entry = self._tokens.get(token)
        if entry is None:
            return TokenCheck(None, 110)
        if entry.revoked:
            return TokenCheck(entry.api_key, 110)
        if now >= entry.expires_at:
            return TokenCheck(entry.api_key, 111)
        return TokenCheck(entry.api_key, None)

    def expire_all(self, *, now: float) -> int:
        """Make every issued token expired (answers 111 from now on); return how many."""
        for entry in self._tokens.values():
            entry.expires_at = min(entry.expires_at, now)
        return len(self._tokens)

    def spoil(self, token: str | None, code: int, *, now: float) -> None:
        """Make one token answer ``code`` from now on: 110 revokes it, 111 expires it."""
        entry = self._tokens.get(token or "")
        if entry is None:
            return
        if code == 110:
            entry.revoked = True
        else:
            entry.expires_at = min(entry.expires_at, now)
