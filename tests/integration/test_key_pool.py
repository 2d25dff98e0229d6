"""A pool of API keys against a simulator that knows two keys: pages spread over both, a key
the provider stops (17) is parked and receives no further call, budgets close a key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devkit.samples import jpeg_bytes, make_page_image
from devkit.standins import Service, start_simulator
from pipeline.adapters.provider import get_redis
from pipeline.adapters.provider.apis import SPECS
from pipeline.adapters.provider.client import KeysParked, ProviderClient
from pipeline.adapters.provider.keys import key_states, park, pool_from, unpark
from pipeline.adapters.provider.limiter import calls_key, parked_key
from pipeline.errors import DailyLimitReached
from pipeline.settings import Settings

CORRECT_EDU = SPECS["correct_edu"]
KEYS = {"pool-key-a": "pool-secret-a", "pool-key-b": "pool-secret-b"}
PAGE = jpeg_bytes(make_page_image(901))


@pytest.fixture(scope="module")
def two_key_simulator(logs_dir: Path) -> Iterator[Service]:
    args = [arg for key, secret in KEYS.items() for arg in ("--key", f"{key}:{secret}")]
    service = start_simulator(
        [*args, "--quota-scale", "10", "--time-scale", "0.02"], logs_dir / "sim-two-keys.log"
    )
    yield service
    service.stop()


@pytest.fixture
def pool_settings(env: Settings, two_key_simulator: Service) -> Iterator[Settings]:
    httpx.post(f"{two_key_simulator.url}/_sim/reset")
    no_limits = {"key_limits": {key: {} for key in KEYS}}
    httpx.post(f"{two_key_simulator.url}/_sim/config", json=no_limits).raise_for_status()
    keys = [{"api_key": k, "secret_key": s} for k, s in KEYS.items()]
    settings = env.model_copy(
        update={
            "baidu_base_url": two_key_simulator.url,
            "baidu_keys": Settings.model_validate({"baidu_keys": keys}).baidu_keys,
        }
    )
    yield settings
    for key in pool_from(settings):
        unpark(get_redis(), key.key_id)


def _client(settings: Settings) -> ProviderClient:
    for key in pool_from(settings):
        get_redis().delete(calls_key(key.key_id), parked_key(key.key_id))
    return ProviderClient(settings, pool_from(settings), get_redis(), httpx.Client(timeout=30))


def _calls(simulator: Service) -> list[list[object]]:
    return httpx.get(f"{simulator.url}/_sim/calls").json()["calls"]


def test_pages_are_spread_over_the_keys(pool_settings: Settings) -> None:
    client = _client(pool_settings)
    used = [client.submit(CORRECT_EDU, PAGE, "image/jpeg", {}).key_id for _ in range(8)]
    assert set(used) == set(client.pool) and min(used.count(k) for k in client.pool) >= 3


def test_a_stopped_key_is_parked_and_receives_no_call(
    pool_settings: Settings, two_key_simulator: Service
) -> None:
    limits = {"key_limits": {"pool-key-a": {"daily": 2}}}
    httpx.post(f"{two_key_simulator.url}/_sim/config", json=limits).raise_for_status()
    client = _client(pool_settings)
    a_id = next(k.key_id for k in pool_from(pool_settings) if k.creds.api_key == "pool-key-a")
    submitted = [client.submit(CORRECT_EDU, PAGE, "image/jpeg", {}) for _ in range(12)]
    # Every page was accepted: by key a until it was stopped, then by key b alone.
    assert len({s.task_id for s in submitted}) == 12
    assert sum(s.key_id == a_id for s in submitted) == 2
    reason = get_redis().get(parked_key(a_id))
    assert reason is not None and b"17" in reason
    # A task of the parked key is not polled: no call leaves for it.
    task_of_a = next(s.task_id for s in submitted if s.key_id == a_id)
    with pytest.raises(KeysParked):
        client.get_result(CORRECT_EDU, task_of_a, a_id)
    calls = [call for call in _calls(two_key_simulator) if call[1] == "pool-key-a"]
    assert [call[3] for call in calls if call[2] != "oauth.token"] == ["ok", "ok", "17"]
    (state,) = [s for s in key_states(get_redis(), pool_from(pool_settings)) if s.key_id == a_id]
    assert state.parked is not None and state.parked_for_s and state.parked_for_s > 0


def test_when_every_key_is_stopped_the_page_is_not_lost(
    pool_settings: Settings, two_key_simulator: Service
) -> None:
    limits = {"key_limits": {k: {"daily": 1} for k in KEYS}}
    httpx.post(f"{two_key_simulator.url}/_sim/config", json=limits).raise_for_status()
    client = _client(pool_settings)
    client.submit(CORRECT_EDU, PAGE, "image/jpeg", {})
    client.submit(CORRECT_EDU, PAGE, "image/jpeg", {})
    with pytest.raises(DailyLimitReached):
        client.submit(CORRECT_EDU, PAGE, "image/jpeg", {})  # the last key stops on this one
    with pytest.raises(KeysParked):
        client.submit(CORRECT_EDU, PAGE, "image/jpeg", {})  # and now nothing is sent at all
    refused = [c for c in _calls(two_key_simulator) if c[3] == "17"]
    assert len(refused) == 2


def test_a_spent_budget_stops_new_pages_but_not_polls(
    pool_settings: Settings, two_key_simulator: Service
) -> None:
    keys = [{"api_key": "pool-key-a", "secret_key": KEYS["pool-key-a"], "daily_budget": 5}]
    settings = pool_settings.model_copy(
        update={"baidu_keys": Settings.model_validate({"baidu_keys": keys}).baidu_keys}
    )
    client = _client(settings)
    key_id = next(iter(client.pool))
    get_redis().delete(calls_key(key_id))  # earlier tests' calls with this key today
    tasks = [client.submit(CORRECT_EDU, PAGE, "image/jpeg", {}) for _ in range(4)]
    with pytest.raises(KeysParked):  # 4 of 5 calls are for new pages; the last is for polls
        client.submit(CORRECT_EDU, PAGE, "image/jpeg", {})
    client.get_result(CORRECT_EDU, tasks[0].task_id, key_id)
    with pytest.raises(KeysParked):
        client.get_result(CORRECT_EDU, tasks[1].task_id, key_id)
    assert get_redis().exists(parked_key(key_id))
    sent = [c for c in _calls(two_key_simulator) if c[2] != "oauth.token"]
    assert len(sent) == 5
    assert json.loads(json.dumps(sent))  # the log is plain JSON


def test_operator_sees_and_unparks_a_parked_key(env: Settings) -> None:
    from click.testing import CliRunner

    from pipeline.operator.cli import main

    (key,) = pool_from(env)
    park(get_redis(), key.key_id, "the provider answered 17", 600)
    try:
        shown = CliRunner().invoke(main, ["keys"])
        assert shown.exit_code == 0 and "answered 17" in shown.output
        status = CliRunner().invoke(main, ["status"])
        assert f"API key {key.key_id} is parked" in status.output
        done = CliRunner().invoke(main, ["keys", "--unpark", key.key_id])
        assert "unparked" in done.output and not get_redis().exists(parked_key(key.key_id))
        assert CliRunner().invoke(main, ["keys", "--unpark", "key-nope"]).exit_code == 2
    finally:
        unpark(get_redis(), key.key_id)
