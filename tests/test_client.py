"""The provider client against the simulator over HTTP: tokens, answers and error classes."""

from __future__ import annotations

import httpx
import pytest
import redis
from pydantic import SecretStr

from pipeline.errors import AuthFailed, Gone, ProviderRejected, Transient
from pipeline.provider import get_client, get_redis
from pipeline.provider.apis import SPECS
from pipeline.provider.client import ProviderClient
from pipeline.provider.keys import pool_from
from pipeline.samples import jpeg_bytes, make_page_image
from pipeline.settings import Settings, get_settings

CORRECT_EDU = SPECS["correct_edu"]


@pytest.fixture
def client(env: Settings) -> ProviderClient:
    return get_client()


def _key(client: ProviderClient) -> str:
    return next(iter(client.pool))


def _oauth_calls(sim_http: httpx.Client) -> int:
    return sum(sim_http.get("/_sim/stats").json()["calls"].get("oauth.token", {}).values())


def test_create_and_get_result(client: ProviderClient, sim_http: httpx.Client) -> None:
    created = client.submit(CORRECT_EDU, jpeg_bytes(make_page_image(101)), "image/jpeg", {})
    assert created.task_id.isdigit() and len(created.task_id) == 19
    assert created.log_id is not None
    assert created.key_id == _key(client)
    answer = client.get_result(CORRECT_EDU, created.task_id, created.key_id)
    assert answer["task_id"] == created.task_id
    assert "isAllFinished" in answer


def test_token_is_fetched_once_and_shared(client: ProviderClient, sim_http: httpx.Client) -> None:
    client.tokens[_key(client)].get()
    before = _oauth_calls(sim_http)
    other = ProviderClient(get_settings(), pool_from(get_settings()), get_redis(), httpx.Client())
    with pytest.raises(Gone):
        other.get_result(CORRECT_EDU, "1234567890123456789", _key(client))
    assert _oauth_calls(sim_http) == before


def test_expired_token_is_refreshed_once(client: ProviderClient, sim_http: httpx.Client) -> None:
    client.tokens[_key(client)].get()
    before = _oauth_calls(sim_http)
    sim_http.post("/_sim/expire_tokens")
    client.submit(CORRECT_EDU, jpeg_bytes(make_page_image(102)), "image/jpeg", {})
    assert _oauth_calls(sim_http) == before + 1


def test_unknown_task_is_gone(client: ProviderClient) -> None:
    with pytest.raises(Gone, match="282808"):
        client.get_result(CORRECT_EDU, "1111111111111111111", _key(client))


def test_small_image_is_rejected_for_good(client: ProviderClient) -> None:
    tiny = jpeg_bytes(make_page_image(103).resize((300, 400)))
    with pytest.raises(ProviderRejected) as caught:
        client.submit(CORRECT_EDU, tiny, "image/jpeg", {})
    assert caught.value.code == "216202"


def test_transient_answers_are_transient(client: ProviderClient, sim_http: httpx.Client) -> None:
    for rule in ({"error_code": 282000}, {"http_status": 502}):
        sim_http.post(
            "/_sim/faults",
            json={"rules": [{"operation": "correct_edu.get_result", "count": 1, **rule}]},
        )
        with pytest.raises(Transient):
            client.get_result(CORRECT_EDU, "1111111111111111111", _key(client))
    sim_http.post("/_sim/faults", json={"rules": []})


def test_wrong_secret_fails_without_revealing_it(env: Settings) -> None:
    wrong = env.model_copy(update={"baidu_secret_key": SecretStr("wrong-secret-value")})
    pool = pool_from(wrong)
    redis.Redis.from_url(env.redis_url).delete(f"scangrade:token:{pool[0].key_id}")
    client = ProviderClient(wrong, pool, get_redis(), httpx.Client())
    with pytest.raises(AuthFailed) as caught:
        client.get_result(CORRECT_EDU, "1", pool[0].key_id)
    assert "wrong-secret-value" not in str(caught.value)
    assert "Client authentication failed" in str(caught.value)
