"""A provider that throttles, fails, answers late, in HTML or cut short: every page still ends
done (or with its reason), and every create_task beyond a page's first is accounted for.

Runs on a ``support.faults`` stack of its own, beside test_faults_services'.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from support.faults import Stack, answers, assert_whole, fault_stack, run_batch, sim_config

from pipeline.adapters.db.models import Artifact, Page
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import ArtifactState, PageState
from pipeline.adapters.documents.imagecheck import image_type
from pipeline.adapters.objectstore import get_store


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with fault_stack(tmp_path_factory) as services:
        yield services


def test_provider_transient_errors_and_token_invalidation(stack: Stack) -> None:
    before = answers(stack, "correct_edu.create_task") + answers(stack, "correct_edu.get_result")
    sim_config(stack, transient_rate=0.1, token_invalid_rate=0.02, bos_transient_rate=0.1)
    try:
        batch_id = run_batch(stack, "provider-chaos", lambda: None, when=0.0)
    finally:
        sim_config(stack, transient_rate=0, token_invalid_rate=0, bos_transient_rate=0)
    accounts = assert_whole(stack, batch_id)
    after = answers(stack, "correct_edu.create_task") + answers(stack, "correct_edu.get_result")
    faults = after - before
    del faults["ok"]
    # The faults did happen, of many kinds (test_simulator_faults shows each kind alone).
    assert faults.total() >= 3 and len(faults) >= 3, faults
    print(f"provider chaos: {dict(faults)}; pages paid twice: {accounts.extra}")


def test_quota_answer_18_in_bursts(stack: Stack) -> None:
    before = answers(stack, "correct_edu.create_task")
    sim_config(stack, quota_burst_every_s=3, quota_burst_s=1)
    try:
        batch_id = run_batch(stack, "quota-bursts", lambda: None, when=0.0)
    finally:
        sim_config(stack, quota_burst_every_s=0, quota_burst_s=0)
    accounts = assert_whole(stack, batch_id)
    refused = (answers(stack, "correct_edu.create_task") - before)["18"]
    assert refused > 0, "no burst of 18 reached the pipeline"
    assert accounts.extra == 0  # an 18 created nothing, and nothing was sent twice


SLOPPY = {
    "latency_min_s": 3.0,
    "latency_max_s": 8.0,  # past the workers' 5 s HTTP timeout: some answers never arrive
    "latency_rate": 0.15,
    "html_200_rate": 0.1,
    "truncated_json_rate": 0.1,
    "bos_html_200_rate": 0.15,
    "bos_truncated_rate": 0.1,
}
SLOPPY_PAGES = 12


def test_a_sloppy_provider_late_html_and_cut_json(stack: Stack) -> None:
    """Every page ends with a reason, no HTML is archived as an image, extra creates counted."""
    before = Counter(stack.simulator.get("/_sim/stats").json()["calls"].get("bos.get", {}))
    sim_config(stack, **SLOPPY)
    try:
        batch_id = run_batch(stack, "sloppy", lambda: None, when=0.0, pages=SLOPPY_PAGES)
    finally:
        sim_config(stack, **{name: 0.0 for name in SLOPPY} | {"latency_rate": 1.0})
    bos = Counter(stack.simulator.get("/_sim/stats").json()["calls"].get("bos.get", {})) - before
    assert bos["html_200"] + bos["truncated"] > 0, bos  # the downloads did go wrong
    produced = stack.simulator.get("/_sim/tasks").json()["tasks"]
    with session_scope() as session:
        pages = session.execute(
            select(Page.state, Page.sha256, Page.ambiguous_submits, Page.error_code).where(
                Page.batch_id == batch_id
            )
        ).all()
        artifacts = session.execute(
            select(Artifact.s3_key, Artifact.state, Artifact.kind, Artifact.error)
            .join(Page, Page.id == Artifact.page_id)
            .where(Page.batch_id == batch_id)
        ).all()
    assert len(pages) == SLOPPY_PAGES
    assert all(p.state == PageState.DONE or p.error_code for p in pages), pages
    # An image recorded archived is a whole image in S3; one that never came says why.
    store = get_store()
    for artifact in artifacts:
        assert artifact.state in (ArtifactState.ARCHIVED, ArtifactState.LOST), artifact
        if artifact.state == ArtifactState.LOST:
            assert artifact.error, artifact
        elif not artifact.kind.startswith("raw"):
            data = store.get(artifact.s3_key)
            assert image_type(data) in ("image/png", "image/jpeg"), artifact.s3_key
            assert b"<html" not in data[:512].lower()
    # Every create_task beyond a page's first was counted as ambiguous on that page.
    shas = {p.sha256 for p in pages}
    creates = Counter(t["image_sha256"] for t in produced.values() if t["image_sha256"] in shas)
    for page in pages:
        assert creates[page.sha256] <= 1 + page.ambiguous_submits, (page, creates[page.sha256])
    print(f"sloppy provider: downloads {dict(bos)}, creates {sum(creates.values())}")
