"""Tolerant models of the provider's answers, one module per API, and what they share."""

from __future__ import annotations

from pipeline.adapters.provider.responses.common import Progress, signed_url_expiry

__all__ = ["Progress", "signed_url_expiry"]
