"""The provider adapter: auth, limiter, client and tolerant answer models."""

from __future__ import annotations

from functools import lru_cache

import httpx
import redis

from pipeline.adapters.provider.client import ProviderClient
from pipeline.adapters.provider.keys import pool_from
from pipeline.settings import get_settings


@lru_cache(maxsize=1)
def get_redis() -> redis.Redis:
    """The process's Redis client (limiter and token cache; thread-safe pool)."""
    return redis.Redis.from_url(
        get_settings().redis_url, socket_timeout=10, socket_connect_timeout=5
    )


@lru_cache(maxsize=1)
def get_client() -> ProviderClient:
    """The process's provider client (httpx clients are thread-safe)."""
    settings = get_settings()
    http = httpx.Client(
        timeout=httpx.Timeout(settings.http_timeout_s, connect=10.0),
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
    )
    return ProviderClient(settings, pool_from(settings), get_redis(), http)


def reset_clients() -> None:
    """Forget clients inherited across a fork."""
    get_client.cache_clear()
    get_redis.cache_clear()
