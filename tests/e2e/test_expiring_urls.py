"""Signed result URLs expire: archiving asks get_result again for freshly signed ones while the
provider keeps the task, and otherwise marks the image lost with the reason.

The simulator signs URLs for one second here, so they have expired by the time the page is
persisted; the real archive workers then find them expired, against Postgres, S3 and the
simulator over HTTP.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy import select
from support.batches import record_finished_task, sim_answers, wait_for_page

from devkit.samples import jpeg_bytes, make_page_image
from devkit.standins import Service
from pipeline.adapters.db.models import Artifact
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import ArtifactState
from pipeline.adapters.objectstore import get_store
from pipeline.adapters.provider import get_client
from pipeline.adapters.provider.apis import SPECS
from pipeline.adapters.provider.client import ProviderClient
from pipeline.adapters.provider.responses.common import Progress
from pipeline.domain.rows import handler
from pipeline.settings import Settings
from pipeline.stages import persist

CORRECT_EDU = SPECS["correct_edu"]


@pytest.fixture
def short_urls(env: Settings, sim_http: httpx.Client) -> Iterator[httpx.Client]:
    """URLs signed for one second; the simulator's settings are put back afterwards."""
    before = sim_http.get("/_sim/config").json()
    sim_http.post("/_sim/config", json={"url_lifetime_s": 1}).raise_for_status()
    yield sim_http
    restore = {k: before[k] for k in ("url_lifetime_s", "task_retention_s")}
    sim_http.post("/_sim/config", json=restore).raise_for_status()


def _finished_task(client: ProviderClient, seed: int) -> tuple[str, str, dict[str, object]]:
    """A real task made at the simulator and polled until done: (task id, key id, answer)."""
    page = jpeg_bytes(make_page_image(seed, 700, 990))
    submitted = client.submit(CORRECT_EDU, page, "image/jpeg", {})
    deadline = time.monotonic() + 30
    while True:
        answer = client.get_result(CORRECT_EDU, submitted.task_id, submitted.key_id)
        if handler("correct_edu").progress(answer) == Progress.DONE:
            return submitted.task_id, submitted.key_id, answer
        assert time.monotonic() < deadline, "the simulator never finished the task"
        time.sleep(0.2)


def _persisted(
    client: ProviderClient, seed: int, name: str, meanwhile: Callable[[], None]
) -> tuple[int, int]:
    """A finished task whose URLs expire before it is persisted: (page id, task row id).

    ``meanwhile`` runs once the URLs have expired; then persist hands the page to the real
    archive workers, which find every URL expired.
    """
    task_id, key_id, answer = _finished_task(client, seed)
    recorded = record_finished_task(
        json.dumps(answer).encode(),
        api="correct_edu",
        rel_path=f"{name}.jpg",
        task_id=task_id,
        batch_name=name,
        task={"key_id": key_id},
    )
    time.sleep(1.5)  # every signed URL of the answer is now past its expiry
    meanwhile()
    assert persist.persist_task(recorded.task_row_id, get_store())
    return recorded.page_id, recorded.task_row_id


def _archived(page_id: int, task_row_id: int) -> list[Artifact]:
    """The task's result image rows, once the archive workers closed its page."""
    wait_for_page(page_id)
    return _artifacts(task_row_id)


def _artifacts(task_row_id: int) -> list[Artifact]:
    with session_scope() as session:
        rows = session.scalars(
            select(Artifact).where(
                Artifact.provider_task_id == task_row_id, Artifact.kind.not_in(["raw_result"])
            )
        ).all()
        session.expunge_all()
        return list(rows)


def _get_results(sim_http: httpx.Client) -> int:
    return sim_answers(sim_http, "correct_edu.get_result").total()


def test_expired_urls_are_signed_again_while_the_provider_keeps_the_task(
    short_urls: httpx.Client, workers: Service
) -> None:
    client = get_client()
    calls: list[int] = []

    def sign_for_an_hour_from_now_on() -> None:
        short_urls.post("/_sim/config", json={"url_lifetime_s": 3600}).raise_for_status()
        calls.append(_get_results(short_urls))

    page_id, task_row_id = _persisted(
        client, 5101, "expired-refetched", sign_for_an_hour_from_now_on
    )
    rows = _archived(page_id, task_row_id)

    assert _get_results(short_urls) - calls[0] == 1  # one fresh answer for all the images
    images = [a for a in rows if a.kind != "raw_refreshed"]
    assert images and [a.kind for a in rows].count("raw_refreshed") == 1
    store = get_store()
    for image in images:
        assert image.state == ArtifactState.ARCHIVED, image.error
        assert store.get(image.s3_key)[:8] == b"\x89PNG\r\n\x1a\n"


def test_expired_urls_of_a_forgotten_task_are_lost_with_the_reason(
    short_urls: httpx.Client, workers: Service
) -> None:
    client = get_client()

    def forget_finished_tasks() -> None:
        short_urls.post("/_sim/config", json={"task_retention_s": 0.5}).raise_for_status()
        time.sleep(1.2)  # past the simulator's sweep interval

    page_id, task_row_id = _persisted(client, 5102, "expired-forgotten", forget_finished_tasks)
    images = _archived(page_id, task_row_id)

    assert images and {a.state for a in images} == {ArtifactState.LOST}
    for image in images:
        assert image.error is not None
        assert "expired" in image.error and "no longer keeps task" in image.error
