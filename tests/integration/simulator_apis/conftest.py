"""One simulator per module of the API tests, its HTTP client and a token for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.simulator_apis import get_token, start_api_simulator


@pytest.fixture(scope="module")
def base_url(logs_dir: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    service = start_api_simulator(logs_dir / f"{name}.log")
    yield service.url
    service.stop()


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=20) as http:
        yield http


@pytest.fixture(scope="module")
def token(client: httpx.Client) -> str:
    return get_token(client)
