"""Where the tests find the shared services, and the provider key they all use."""

from __future__ import annotations

import os

REDIS_BASE = os.environ.get("SCANGRADE_TEST_REDIS", "redis://127.0.0.1:6379")
PG_BASE = os.environ.get("SCANGRADE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")
API_KEY, SECRET_KEY = "test-api-key", "test-secret-key"

# Fast provider for tests: quotas x10 and processing times x1/50 of the documented ones.
SIMULATOR_ARGS = ("--key", f"{API_KEY}:{SECRET_KEY}", "--quota-scale", "10", "--time-scale", "0.02")
