"""All five APIs through the whole pipeline, in one night's directory routed by its manifest.

Real worker processes, Postgres, Redis, moto's S3 and the simulator over HTTP. Every row is
checked against what the simulator produced for that page.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from support.batches import wait_until_done

from devkit.samples import blank_page, write_mixed_batch
from devkit.standins import Service
from pipeline.adapters.db.models import (
    Artifact,
    Document,
    Essay,
    EssayLine,
    EssayParagraph,
    EssaySentence,
    OcrWord,
    Page,
    PaperAnswer,
    PaperQuestion,
    ProviderTask,
    Question,
)
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.adapters.provider.apis import Choices
from pipeline.domain.routing import routing
from pipeline.settings import Settings
from pipeline.stages.enqueue import enqueue_directory


@pytest.fixture(scope="module")
def night(env: Settings, workers: Service, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("mixed") / "2026-11-21"
    expected = write_mixed_batch(root)
    routes = routing(root, api=None, choices=Choices(), manifest=None, default_endpoint=None)
    report = enqueue_directory(root, get_store(), batch_name="every-api", routes=routes)
    wait_until_done(report.batch_id)
    return root, routes, report, expected


def _pages(batch_id: int) -> dict[str, list[tuple[Page, Document, ProviderTask | None]]]:
    with session_scope() as session:
        rows = session.execute(
            select(Page, Document, ProviderTask)
            .join(Document, Document.id == Page.document_id)
            .outerjoin(ProviderTask, ProviderTask.page_id == Page.id)
            .where(Page.batch_id == batch_id)
            .order_by(Document.rel_path, Page.page_no)
        ).all()
        session.expunge_all()
    by_doc: dict[str, list[tuple[Page, Document, ProviderTask | None]]] = {}
    for page, doc, task in rows:
        by_doc.setdefault(doc.rel_path, []).append((page, doc, task))
    return by_doc


def test_each_document_went_to_its_api_and_ended(night) -> None:
    _, _, report, expected = night
    pages = _pages(report.batch_id)
    assert set(pages) == set(expected)  # the manifest itself is no document
    assert report.rejected == []
    for rel_path, (api, count) in expected.items():
        rows = pages[rel_path]
        assert len(rows) == count, rel_path
        for page, doc, task in rows:
            assert doc.api == api
            if rel_path == "essays/blank.jpg":  # a duplex back: never sent, never billed
                assert (page.state, page.error_code, task) == ("skipped", "blank", None)
                assert page.ink_ratio is not None and page.image_key is not None
                continue
            assert task is not None and task.api == api
            assert page.state == "done", (rel_path, page.error)
            assert task.state == "finished"
            sync = api in ("formula", "custom_ocr") or "cut-only" in rel_path
            assert task.mode == ("sync" if sync else "async")


def test_a_blank_page_sent_anyway_is_refused_as_no_essay(
    env: Settings, workers: Service, tmp_path: Path
) -> None:
    """With skip_blank off the page is paid for, and fails with the provider's 216100."""
    (tmp_path / "essays").mkdir()
    (tmp_path / "essays" / "blank.jpg").write_bytes(blank_page())
    routes = routing(
        tmp_path, api="composition", choices=Choices(), manifest=None, default_endpoint=None
    )
    report = enqueue_directory(
        tmp_path, get_store(), batch_name="blank-essay", routes=routes, skip_blank=False, force=True
    )
    wait_until_done(report.batch_id)
    [(page, _, task)] = _pages(report.batch_id)["essays"]  # a folder of images: one document
    assert (page.state, page.error_code, page.ink_ratio) == ("failed", "216100", None)
    assert "not a composition" in (page.error or "")
    assert task is not None and task.api == "composition"


def test_pdfs_reach_paper_cut_as_one_page_pdfs(night) -> None:
    _, _, report, _ = night
    store = get_store()
    for rel_path in ("exams/midterm-bo.pdf", "exams/quiz-cy.pdf"):
        for page, _, _ in _pages(report.batch_id)[rel_path]:
            assert (page.content_type, page.source) == ("application/pdf", "pdf_page")
            assert page.image_key is not None
            assert store.get(page.image_key).startswith(b"%PDF-")
    (homework, _, _) = _pages(report.batch_id)["homework/amy.pdf"][0]
    assert homework.content_type == "image/jpeg"  # correct_edu takes images only


def _sim_tasks(sim_http: httpx.Client) -> dict[str, dict[str, Any]]:
    tasks: dict[str, dict[str, Any]] = sim_http.get("/_sim/tasks").json()["tasks"]
    return tasks


def test_paper_questions_and_answers_exactly_once(night, sim_http: httpx.Client) -> None:
    _, _, report, _ = night
    produced = _sim_tasks(sim_http)
    paper_pages = [
        row
        for rel_path, rows in _pages(report.batch_id).items()
        if rel_path.startswith("exams/") and "cut-only" not in rel_path
        for row in rows
    ]
    assert len(paper_pages) == 4
    with session_scope() as session:
        for page, doc, task in paper_pages:
            assert task is not None
            sim = produced[task.task_id]
            assert sim["api"] == "paper_cut_edu_vlm"
            questions = list(
                session.scalars(
                    select(PaperQuestion)
                    .where(PaperQuestion.page_id == page.id)
                    .order_by(PaperQuestion.sequence)
                )
            )
            assert [q.number for q in questions] == [str(q["qus_id"]) for q in sim["questions"]]
            for question, expected in zip(questions, sim["questions"], strict=True):
                answers = session.scalars(
                    select(PaperAnswer).where(PaperAnswer.question_id == question.id)
                ).all()
                assert len(answers) == expected["answers"]
                assert question.question_boxes, "every question has its box"
            sheet = doc.rel_path == "exams/answer-sheets"
            assert sim["scene_type"] == ("answer_sheet" if sheet else "paper")
            if sheet:
                assert all(q.question_type == "" for q in questions)
                numbers = session.scalars(
                    select(PaperAnswer.number).where(PaperAnswer.page_id == page.id)
                ).all()
                assert numbers and all(numbers)
            else:
                assert all(q.question_type for q in questions)


def test_only_split_answers_at_once(night) -> None:
    _, _, report, _ = night
    ((paper, _, paper_task),) = _pages(report.batch_id)["exams/cut-only"]
    ((homework, _, homework_task),) = _pages(report.batch_id)["homework/cut-only"]
    assert paper_task is not None and homework_task is not None
    assert (paper_task.mode, paper_task.polls) == ("sync", 0)
    assert (homework_task.mode, homework_task.polls) == ("sync", 0)
    with session_scope() as session:
        cut = session.scalars(select(PaperQuestion).where(PaperQuestion.page_id == paper.id)).all()
        graded = session.scalars(select(Question).where(Question.page_id == homework.id)).all()
    assert cut and all(q.answer_boxes and q.question_type is None for q in cut)
    assert graded and all(q.correct_result == 0 for q in graded)  # split, not graded


def test_enhanced_page_is_archived(night, sim_http: httpx.Client) -> None:
    _, _, report, _ = night
    ((page, _, task),) = _pages(report.batch_id)["exams/answer-sheets"]
    assert task is not None
    answer = sim_http.get(f"/_sim/tasks/{task.task_id}/answer").json()
    url = answer["result"]["result"]["enhance_url"]
    served = httpx.get(url).content
    with session_scope() as session:
        (artifact,) = session.scalars(
            select(Artifact).where(Artifact.page_id == page.id, Artifact.kind == "enhanced_image")
        )
    assert artifact.state == "archived"
    assert artifact.sha256 == hashlib.sha256(served).hexdigest()
    assert get_store().get(artifact.s3_key) == served


@pytest.mark.parametrize("page_no", [1, 2])
def test_essay_rows_match_the_answer(night, sim_http: httpx.Client, page_no: int) -> None:
    _, _, report, _ = night
    page, _, task = _pages(report.batch_id)["essays/eve"][page_no - 1]
    assert task is not None
    sim = _sim_tasks(sim_http)[task.task_id]
    inner = sim_http.get(f"/_sim/tasks/{task.task_id}/answer").json()["result"]["result"]
    with session_scope() as session:
        (essay,) = session.scalars(select(Essay).where(Essay.page_id == page.id))
        paragraphs = session.scalars(
            select(EssayParagraph)
            .where(EssayParagraph.essay_id == essay.id)
            .order_by(EssayParagraph.sequence)
        ).all()
        sentences = session.scalars(
            select(EssaySentence).where(EssaySentence.essay_id == essay.id)
        ).all()
        lines = session.scalars(
            select(EssayLine).where(EssayLine.essay_id == essay.id).order_by(EssayLine.sequence)
        ).all()
        assert (essay.granularity, essay.title) == ("word", sim["title"])
        assert essay.content_text == sim["content_text"]
        assert (len(paragraphs), len(sentences), len(lines)) == (
            sim["paragraphs"],
            sim["sentences"],
            sim["lines"],
        )
        assert [p.text for p in paragraphs] == [p["text"] for p in inner["content"]["paragraphs"]]
        for line, raw in zip(lines, inner["content"]["lines"], strict=True):
            assert line.text == raw["text"]
            assert "".join(c["char"] for c in line.chars) == raw["text"]
            assert all(isinstance(c["is_punctuation"], bool) for c in line.chars)
            assert line.paragraph_id in {p.id for p in paragraphs}
        assert essay.title_chars and essay.title_boxes


def test_ocr_words_match_the_answer(night, sim_http: httpx.Client) -> None:
    _, _, report, _ = night
    store = get_store()
    for rel_path in ("formulas", "forms"):
        ((page, _, task),) = _pages(report.batch_id)[rel_path]
        assert task is not None and task.raw_key is not None
        answer = json.loads(store.get(task.raw_key))
        with session_scope() as session:
            words = session.scalars(
                select(OcrWord).where(OcrWord.page_id == page.id).order_by(OcrWord.sequence)
            ).all()
        listed = answer.get("words_result") or answer.get("words_results")
        assert [w.text for w in words if w.kind == "word"] == [w["words"] for w in listed]
        formulas = [w.text for w in words if w.kind == "formula"]
        assert formulas == [w["words"] for w in answer.get("formula_result", [])]
        if rel_path.startswith("formulas/"):
            assert "direction" in task.result_meta and formulas
        assert task.log_id == str(answer["log_id"])


def test_a_second_enqueue_adds_nothing(night, sim_http: httpx.Client) -> None:
    root, routes, report, _ = night
    calls_before = sim_http.get("/_sim/stats").json()["calls"]
    again = enqueue_directory(root, get_store(), batch_name="every-api", routes=routes)
    assert again.queued == [] and again.batch_id == report.batch_id
    time.sleep(1)
    paid = [op for op in _changed(calls_before, sim_http) if not op.endswith("get_result")]
    assert paid == []


def _changed(before: dict[str, Any], sim_http: httpx.Client) -> list[str]:
    after = sim_http.get("/_sim/stats").json()["calls"]
    return [op for op in after if after[op] != before.get(op)]
