"""The provider client against the simulator over HTTP: tokens, answers and error classes."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis
from pydantic import SecretStr

from devkit.samples import jpeg_bytes, make_page_image
from devkit.standins import Service, free_port
from pipeline.adapters.provider import get_client, get_redis
from pipeline.adapters.provider.apis import SPECS
from pipeline.adapters.provider.client import ProviderClient, Throttled, provider_timeout
from pipeline.adapters.provider.keys import pool_from, unpark
from pipeline.errors import (
    AmbiguousSubmit,
    AuthFailed,
    Gone,
    ProviderRejected,
    TokenRejected,
    Transient,
)
from pipeline.settings import Settings, get_settings

CORRECT_EDU = SPECS["correct_edu"]
FORMULA = SPECS["formula"]
READ_TIMEOUT_S = 1.0


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
    # The refused key is parked for a while; it is the session's key with its right secret.
    assert unpark(get_redis(), pool[0].key_id)
    assert "wrong-secret-value" not in str(caught.value)
    assert "Client authentication failed" in str(caught.value)


# --- issue 5: every fault the simulator can make reaches the client as the right error ---

Rules = Callable[..., None]


@pytest.fixture
def faults(sim_http: httpx.Client) -> Iterator[Rules]:
    """Set fault rules on the shared simulator (bound to this key); cleared afterwards."""

    def set_rules(*rules: dict[str, Any]) -> None:
        api_key = get_settings().baidu_api_key
        assert api_key is not None
        body = {"rules": [{"api_key": api_key.get_secret_value(), **rule} for rule in rules]}
        sim_http.post("/_sim/faults", json=body).raise_for_status()

    yield set_rules
    sim_http.post("/_sim/faults", json={"rules": []}).raise_for_status()


def _worker(settings: Settings) -> ProviderClient:
    """A client as another worker process has it: its own memory, the same Redis."""
    return ProviderClient(settings, pool_from(settings), get_redis(), httpx.Client())


@pytest.fixture
def impatient(env: Settings) -> ProviderClient:
    """A client of the same key whose provider calls give up reading after a second."""
    return _worker(env.model_copy(update={"http_timeout_s": READ_TIMEOUT_S}))


def _page(seed: int) -> bytes:
    return jpeg_bytes(make_page_image(seed, 600, 800))


def _no_secret_in(error: BaseException, client: ProviderClient) -> None:
    token = client.tokens[_key(client)].get()
    for text in (str(error), repr(error), str(error.__cause__), repr(error.__cause__)):
        assert token not in text and "access_token" not in text


TRANSIENT_ANSWERS = [
    {"error_code": 1},
    {"error_code": 2},
    {"error_code": 282000},
    {"error_code": 336100},
]
LOST_ANSWERS = [{"http_status": 500}, {"http_status": 502}, {"timeout": True}, {"drop": True}]


def _name(rule: dict[str, Any]) -> str:
    (kind, value), *_ = rule.items()
    return kind if value is True else f"{kind}_{value}"


@pytest.mark.parametrize("rule", TRANSIENT_ANSWERS + LOST_ANSWERS, ids=_name)
def test_fault_on_create_task(
    impatient: ProviderClient, faults: Rules, rule: dict[str, Any]
) -> None:
    """A provider error is plainly transient; a lost answer may have created the task."""
    faults({"operation": "correct_edu.create_task", "count": 1, **rule})
    started = time.monotonic()
    with pytest.raises(Transient) as caught:
        impatient.submit(CORRECT_EDU, _page(201), "image/jpeg", {})
    assert time.monotonic() - started < READ_TIMEOUT_S + 2  # timeouts come from the settings
    assert isinstance(caught.value, AmbiguousSubmit) is (rule in LOST_ANSWERS)
    if rule in LOST_ANSWERS:
        assert "may have accepted the page" in str(caught.value)
    _no_secret_in(caught.value, impatient)


@pytest.mark.parametrize("rule", TRANSIENT_ANSWERS + LOST_ANSWERS, ids=_name)
def test_fault_on_get_result(
    impatient: ProviderClient, faults: Rules, rule: dict[str, Any]
) -> None:
    """Asking for a result is never ambiguous: nothing is created or paid for."""
    faults({"operation": "correct_edu.get_result", "count": 1, **rule})
    with pytest.raises(Transient) as caught:
        impatient.get_result(CORRECT_EDU, "1111111111111111111", _key(impatient))
    assert not isinstance(caught.value, AmbiguousSubmit)
    _no_secret_in(caught.value, impatient)


def test_lost_answer_of_a_sync_call_is_ambiguous(client: ProviderClient, faults: Rules) -> None:
    """formula calls are paid for: a 502 after sending leaves that open."""
    faults({"operation": "formula.call", "count": 1, "http_status": 502, "performed": True})
    with pytest.raises(AmbiguousSubmit):
        client.submit(FORMULA, _page(202), "image/jpeg", {})


def test_performed_drop_leaves_a_task_behind(
    client: ProviderClient, faults: Rules, sim_http: httpx.Client
) -> None:
    """The ambiguous case: the provider created the task, the client never heard of it."""
    page = _page(203)
    faults({"operation": "correct_edu.create_task", "count": 1, "drop": True, "performed": True})
    with pytest.raises(AmbiguousSubmit):
        client.submit(CORRECT_EDU, page, "image/jpeg", {})
    retried = client.submit(CORRECT_EDU, page, "image/jpeg", {})
    counts = sim_http.get("/_sim/uploads").json()["uploads"][hashlib.sha256(page).hexdigest()]
    assert counts["performed"] == 2 and counts["answered"] == 1
    assert counts["outcomes"] == {"drop": 1, "ok": 1}
    assert retried.task_id in counts["task_ids"] and len(set(counts["task_ids"])) == 2


def test_unreachable_provider_is_plainly_transient(env: Settings) -> None:
    """A connection that cannot be made never carried the page: no ambiguity."""
    online = _worker(env)
    online.tokens[_key(online)].get()  # the token is in Redis: only the API call can fail
    offline = _worker(env.model_copy(update={"baidu_base_url": f"http://127.0.0.1:{free_port()}"}))
    with pytest.raises(Transient) as caught:
        offline.submit(CORRECT_EDU, _page(204), "image/jpeg", {})
    assert not isinstance(caught.value, AmbiguousSubmit)
    assert "ConnectError" in str(caught.value)


def test_result_image_faults_are_transient(
    client: ProviderClient, faults: Rules, simulator: Service
) -> None:
    faults({"operation": "bos.get", "count": 1, "drop": True, "api_key": None})
    url = f"{simulator.url}/bos/any/object.png?authorization=signature-secret"
    with pytest.raises(Transient) as caught:
        client.fetch(url)
    assert not isinstance(caught.value, AmbiguousSubmit)
    assert "signature-secret" not in str(caught.value)


def test_invalidated_token_is_replaced_for_every_worker(
    faults: Rules, sim_http: httpx.Client, env: Settings
) -> None:
    """110 revokes the token: the client fetches one new token, which all workers then use."""
    client, other = _worker(env), _worker(env)
    old = client.tokens[_key(client)].get()
    assert other.tokens[_key(other)].get() == old
    before = _oauth_calls(sim_http)
    faults({"operation": "correct_edu.create_task", "count": 1, "error_code": 110})
    client.submit(CORRECT_EDU, _page(205), "image/jpeg", {})
    assert _oauth_calls(sim_http) == before + 1
    new = client.tokens[_key(client)].get()
    assert new != old
    stored = redis.Redis.from_url(env.redis_url).get(f"scangrade:token:{_key(client)}")
    assert stored == new.encode()
    since = time.time()
    # The other worker still holds the revoked token: one 110, then Redis's new token.
    with pytest.raises(Gone):
        other.get_result(CORRECT_EDU, "1111111111111111111", _key(other))
    assert _oauth_calls(sim_http) == before + 1
    calls = sim_http.get("/_sim/calls", params={"since": since}).json()["calls"]
    assert [outcome for *_, outcome in calls] == ["110", "282808"]
    assert other.tokens[_key(other)].get() == new


def test_fresh_token_rejected_again_is_transient(client: ProviderClient, faults: Rules) -> None:
    faults({"operation": "correct_edu.get_result", "count": 2, "error_code": 110})
    with pytest.raises(Transient) as caught:
        client.get_result(CORRECT_EDU, "1111111111111111111", _key(client))
    assert isinstance(caught.value.__cause__, TokenRejected)
    _no_secret_in(caught.value, client)


def test_timeouts_are_explicit(env: Settings) -> None:
    timeout = provider_timeout(env)
    assert timeout.connect == env.http_connect_timeout_s < timeout.read == env.http_timeout_s
    assert timeout.write == timeout.pool == env.http_timeout_s


def test_a_call_waits_at_most_the_limiters_max_wait(env: Settings) -> None:
    """The slot's wait and the window's wait share one budget: a worker gives its slot back
    after ``limiter_max_wait_s`` at most, however the two waits fall."""
    worker = _worker(env.model_copy(update={"limiter_max_wait_s": 1.5}))
    lane = worker.pool[next(iter(worker.pool))].lane(CORRECT_EDU.name, "get_result")
    # Calls still unanswered fill the window: the next slot is a second away (within the
    # budget), and even then the window stays full (their answers never come).
    held = [worker.limiter.enter_window(lane, 2.0) for _ in range(lane.per_window)]
    assert all(held)
    started = time.monotonic()
    with pytest.raises(Throttled):
        worker.get_result(CORRECT_EDU, "1" * 19, lane.key_id)
    waited = time.monotonic() - started
    assert 0.9 < waited < 1.5 + 0.3, waited
