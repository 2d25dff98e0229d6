"""Teachers' grade overrides on pages the real persister wrote: the views, the report and the
domain module agree on the effective grades and both rates; the history is kept; replay keeps
the overrides; a rescan lists them for review; wrong requests change nothing.

A batch of four students in two classes (and a page nobody owns) is persisted from answers
made to order, then a teacher of 7A and an admin override slots and whole questions: a slot
marked correct, a question marked partial with one of its slots wrong, an override withdrawn,
one changed twice, a slot the provider did not grade marked partial.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import redis
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError
from starlette.testclient import TestClient
from support import web
from support.review import GradedPage, decimal, graded_page, new_batch, rows, student

from pipeline.adapters.db.accounts import add_user, disable_user
from pipeline.adapters.db.models import Document, GradeOverride
from pipeline.adapters.db.overrides import (
    OverrideKey,
    current_overrides,
    override_history,
    overrides_to_review,
    record_override,
)
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.domain.grades import Counted, Tally, question_grade, slot_grade
from pipeline.errors import (
    AccountDisabled,
    BadGrade,
    NotPermitted,
    RequestRefused,
    UnknownGradeTarget,
    UnknownUser,
)
from pipeline.operator.report.data import load_report
from pipeline.operator.web import create_app
from pipeline.settings import Settings, get_settings
from pipeline.stages.replay import replay_batch


@dataclass(frozen=True)
class Night:
    batch_id: int
    pages: dict[str, GradedPage]
    teacher: int
    admin: int


def _override(
    user: int, page: GradedPage, question: int, slot: int | None, grade: str | None
) -> None:
    with session_scope() as session:
        record_override(
            session,
            page_id=page.page_id,
            image_index=0,
            question_seq=question,
            slot_seq=slot,
            grade=grade,
            comment=f"checked {question}.{slot}",
            user_id=user,
        )


def _accounts() -> tuple[int, int]:
    with session_scope() as session:
        teacher = add_user(session, "ms-li", "chalk", "teacher", ["7A"]).id
        admin = add_user(session, "head", "keys", "admin", []).id
    return teacher, admin


@pytest.fixture(scope="module")
def night(env: Settings) -> Night:
    batch_id = new_batch("review")
    ann, bob, cai = student("7A", "ann"), student("7A", "bob"), student("7B", "cai")
    pages = {
        "ann-1": graded_page(
            batch_id, "7A/ann/homework.pdf", [(2, [1, 2, 1]), (2, [2, 2]), (3, [3])], owner=ann
        ),
        "ann-2": graded_page(batch_id, "7A/ann/quiz.pdf", [(1, [1, 1]), (0, [0, 1])], owner=ann),
        "bob": graded_page(
            batch_id, "7A/bob/homework.pdf", [(2, [2]), (1, [1, 1]), (2, [2, 1])], owner=bob
        ),
        "cai": graded_page(batch_id, "7B/cai/homework.pdf", [(2, [1, 2, 0])], owner=cai),
        "loose": graded_page(batch_id, "loose.pdf", [(1, [1])]),
    }
    teacher, admin = _accounts()
    _override(teacher, pages["ann-1"], 0, 2, "correct")
    _override(teacher, pages["ann-1"], 1, None, "partial")
    _override(teacher, pages["ann-1"], 1, 1, "wrong")
    _override(teacher, pages["bob"], 0, 1, "partial")
    _override(teacher, pages["bob"], 0, 1, None)  # withdrawn: the provider's grade again
    _override(teacher, pages["bob"], 2, None, "correct")
    _override(teacher, pages["bob"], 2, None, "wrong")  # the latest row is in force
    _override(admin, pages["cai"], 0, 3, "partial")  # the provider did not grade it
    return Night(batch_id, pages, teacher, admin)


def test_slot_results_give_the_effective_grade_and_keep_the_providers(night: Night) -> None:
    got = {
        (row["page_id"], row["question_sequence"], row["slot_sequence"]): row
        for row in rows("SELECT * FROM v_slot_results WHERE batch_id = :b", b=night.batch_id)
    }
    ann = night.pages["ann-1"].page_id
    slot = got[(ann, 0, 2)]
    assert (slot["correct_result"], slot["result"], slot["provider_correct_result"]) == (
        1,
        "correct",
        2,
    )
    assert (slot["overridden"], slot["question_overridden"], slot["overridden_by"]) == (
        True,
        False,
        "ms-li",
    )
    assert slot["question_correct_result"] == slot["provider_question_correct_result"] == 2
    # the whole question is partial: its slot without an override of its own follows it
    assert [got[(ann, 1, seq)]["result"] for seq in (1, 2)] == ["wrong", "partial"]
    assert got[(ann, 1, 2)]["override_comment"] == "checked 1.None"
    assert got[(ann, 1, 1)]["question_result"] == "partial"
    bob = night.pages["bob"].page_id
    assert (got[(bob, 0, 1)]["correct_result"], got[(bob, 0, 1)]["overridden"]) == (2, False)
    assert got[(bob, 2, 1)]["question_correct_result"] == 2
    assert got[(bob, 2, 1)]["question_overridden"] is True
    cai = got[(night.pages["cai"].page_id, 0, 3)]
    assert (cai["correct_result"], cai["provider_result"], cai["overridden_by"]) == (
        4,
        "not graded",
        "head",
    )
    untouched = [row for row in got.values() if not row["overridden"]]
    assert untouched and all(
        row["correct_result"] == row["provider_correct_result"] for row in untouched
    )


def _provider_rows(batch_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    questions = rows(
        "SELECT q.page_id, q.image_index, q.sequence, q.correct_result, o.student, o.class_name "
        "FROM questions q JOIN pages p ON p.id = q.page_id "
        "JOIN v_page_owners o ON o.page_id = p.id WHERE p.batch_id = :b",
        b=batch_id,
    )
    slots = rows(
        "SELECT s.page_id, q.image_index, q.sequence AS question, s.sequence, s.correct_result, "
        "o.student, o.class_name FROM slots s JOIN questions q ON q.id = s.question_id "
        "JOIN pages p ON p.id = s.page_id JOIN v_page_owners o ON o.page_id = p.id "
        "WHERE p.batch_id = :b",
        b=batch_id,
    )
    return questions, slots


def _domain_rates(batch_id: int, by: str) -> dict[Any, tuple[Tally, Tally]]:
    """Per ``by`` (student or class_name): (questions, slots) tallied by the domain module."""
    questions, slots = _provider_rows(batch_id)
    with session_scope() as session:
        overrides = current_overrides(session, {q["page_id"] for q in questions})

    def grade_of(key: OverrideKey) -> str | None:
        found = overrides.get(key)
        return None if found is None else found.grade

    tallies: dict[Any, tuple[Tally, Tally]] = defaultdict(
        lambda: (Tally(Counted.QUESTIONS), Tally(Counted.SLOTS))
    )
    for q in questions:
        key = OverrideKey(q["page_id"], q["image_index"], q["sequence"], None)
        tallies[q[by]][0].add(question_grade(q["correct_result"], grade_of(key)))
    for s in slots:
        question = OverrideKey(s["page_id"], s["image_index"], s["question"], None)
        own = grade_of(question._replace(slot_seq=s["sequence"]))
        tallies[s[by]][1].add(slot_grade(s["correct_result"], own, grade_of(question)))
    return tallies


def test_views_report_and_domain_give_the_same_rates(night: Night) -> None:
    domain = _domain_rates(night.batch_id, "student")
    views = {
        row["student"]: row
        for row in rows("SELECT * FROM v_student_totals WHERE batch_id = :b", b=night.batch_id)
    }
    with session_scope() as session:
        report = load_report(session, night.batch_id)
    by_student = {s.row.label: s.row for s in report.students}
    assert views.keys() == domain.keys() == {"ann", "bob", "cai", None}
    for name, (questions, slots) in domain.items():
        view, row = views[name], by_student[name or "loose.pdf"]
        assert decimal(view["slot_correct_rate"]) == slots.rate == row.slots.rate
        assert decimal(view["question_correct_rate"]) == questions.rate == row.questions.rate
        assert decimal(view["correct_rate"]) == slots.rate  # the old name, the slot rate
        assert (view["partial"], view["questions_partial"]) == (slots.partial, questions.partial)
        assert (view["slots"], view["questions"]) == (slots.total, questions.total)
        assert view["questions_graded"] == questions.graded == row.questions.graded
    # worked by hand: 6 correct, 1 partial, 1 wrong, 1 unanswered slots (one not graded);
    # questions 1 correct, 1 partial, 1 wrong, 1 unanswered (one not graded)
    assert domain["ann"][1].rate == Decimal("0.7222")  # 6.5 / 9
    assert domain["ann"][0].rate == Decimal("0.3750")  # 1.5 / 4
    assert (views["ann"]["slots_overridden"], views["ann"]["questions_overridden"]) == (3, 1)
    assert report.total_slots.rate == _total(domain, 1).rate
    assert report.total_questions.rate == _total(domain, 0).rate
    classes = rows("SELECT id FROM classes WHERE name IN ('7A', '7B')")
    assert len(classes) == 2
    for class_id in (row["id"] for row in classes):  # and the app's grids, row by row
        grid = _signed_in_admin().get(f"/batches/{night.batch_id}/classes/{class_id}").text
        for name, shown in _app_rates(grid).items():
            assert shown == (views[name]["question_correct_rate"], views[name]["slot_correct_rate"])


def _app_rates(grid: str) -> dict[str, tuple[Decimal | None, Decimal | None]]:
    """Each student row's exact rates per question and per slot, as a class grid holds them."""
    found = {}
    for row in grid.split('<tr class="student" data-student="')[1:]:
        name, cells = row.split('"', 1)[0], row.split("</tr>", 1)[0]
        rates = dict(re.findall(r'data-rate="(\w+)">(?:<data value="([\d.]+)">)?', cells))
        found[name] = tuple(Decimal(rates[k]) if rates[k] else None for k in ("questions", "slots"))
    assert found, grid[-2000:]
    return found


def _total(tallies: dict[Any, tuple[Tally, Tally]], which: int) -> Tally:
    total = Tally(tallies["ann"][which].counted)
    for pair in tallies.values():
        total.merge(pair[which])
    return total


def test_rates_per_class_and_per_question_agree(night: Night) -> None:
    domain = _domain_rates(night.batch_id, "class_name")
    with session_scope() as session:
        report = load_report(session, night.batch_id)
    classes = {row.label: row for row in report.classes}
    for name in ("7A", "7B"):
        assert classes[name].slots.rate == domain[name][1].rate
        assert classes[name].questions.rate == domain[name][0].rate
    stats = rows(
        "SELECT * FROM v_question_stats WHERE batch_id = :b AND assignment = 'homework.pdf'",
        b=night.batch_id,
    )
    positions = {row.label: row for row in report.questions}
    for stat in stats:
        row = positions[f"homework.pdf p1 Q{stat['question_sequence'] + 1}"]
        assert decimal(stat["slot_correct_rate"]) == row.slots.rate
        assert decimal(stat["question_correct_rate"]) == row.questions.rate
        assert stat["questions"] == row.questions.total == 3 - (stat["question_sequence"] > 0)


def test_report_marks_overridden_boxes(night: Night) -> None:
    with session_scope() as session:
        report = load_report(session, night.batch_id)
    (page,) = [p for p in report.pages if p.page_id == night.pages["ann-1"].page_id]
    marked = {box.label: box for box in page.boxes if box.overridden_by}
    assert set(marked) == {"Q1.2", "Q2", "Q2.1", "Q2.2"}
    assert (marked["Q1.2"].result, marked["Q1.2"].provider) == (1, 2)
    assert (page.slots.overridden, page.questions.overridden) == (3, 1)


def test_history_keeps_every_change_newest_first(night: Night) -> None:
    with session_scope() as session:
        history = override_history(session, night.pages["bob"].page_id)
        current = current_overrides(session, [night.pages["bob"].page_id])
    assert [(c.key.question_seq, c.key.slot_seq, c.grade) for c in history] == [
        (2, None, "wrong"),
        (2, None, "correct"),
        (0, 1, None),
        (0, 1, "partial"),
    ]
    assert {c.username for c in history} == {"ms-li"}
    (key,) = current
    assert key == OverrideKey(night.pages["bob"].page_id, 0, 2, None)
    assert (current[key].grade, current[key].username) == ("wrong", "ms-li")
    (row,) = rows(
        "SELECT * FROM v_grade_overrides_current WHERE page_id = :p",
        p=night.pages["bob"].page_id,
    )
    assert (row["correct_result"], row["rel_path"]) == (2, "7A/bob/homework.pdf")


@pytest.mark.parametrize("statement", ["UPDATE", "DELETE"])
def test_the_history_is_append_only(night: Night, statement: str) -> None:
    with pytest.raises(DBAPIError, match="append-only"), session_scope() as session:
        if statement == "UPDATE":
            session.execute(update(GradeOverride).values(grade="correct"))
        else:
            session.execute(text("DELETE FROM grade_overrides"))


def test_deleting_a_batch_takes_its_overrides(night: Night) -> None:
    batch_id = new_batch("gone")
    page = graded_page(batch_id, "x.pdf", [(2, [2])])
    _override(night.admin, page, 0, 1, "correct")
    with session_scope() as session:
        session.execute(text("DELETE FROM batches WHERE id = :b"), {"b": batch_id})
    assert rows("SELECT id FROM grade_overrides WHERE page_id = :p", p=page.page_id) == []


REFUSED = [
    (BadGrade, {"grade": "right"}),
    (UnknownGradeTarget, {"question_seq": 7}),
    (UnknownGradeTarget, {"slot_seq": 9}),
    (UnknownGradeTarget, {"image_index": 1}),
    (UnknownUser, {"user_id": 0}),
    (NotPermitted, {"page": "cai"}),
    (NotPermitted, {"page": "loose"}),
]


@pytest.mark.parametrize(
    ("error", "change"),
    REFUSED,
    ids=[
        "bad grade",
        "no such question",
        "no such slot",
        "no such image",
        "unknown user",
        "another class",
        "a page of no class",
    ],
)
def test_wrong_overrides_are_refused_and_write_nothing(
    night: Night, error: type[RequestRefused], change: dict[str, Any]
) -> None:
    request: dict[str, Any] = {
        "page_id": night.pages[change.get("page", "ann-2")].page_id,
        "image_index": 0,
        "question_seq": 0,
        "slot_seq": 1,
        "grade": "partial",
        "comment": None,
        "user_id": night.teacher,
    } | {name: value for name, value in change.items() if name != "page"}
    before = rows("SELECT count(*) AS n FROM grade_overrides")
    with pytest.raises(error) as raised, session_scope() as session:
        record_override(session, **request)
    assert raised.value.exit_code == 2 and str(raised.value)
    assert rows("SELECT count(*) AS n FROM grade_overrides") == before


def test_a_disabled_account_may_not_grade(night: Night) -> None:
    with session_scope() as session:
        user = add_user(session, "gone-teacher", "pw", "teacher", ["7A"])
        disable_user(session, "gone-teacher")
    with pytest.raises(AccountDisabled), session_scope() as session:
        record_override(
            session,
            page_id=night.pages["ann-2"].page_id,
            image_index=0,
            question_seq=0,
            slot_seq=None,
            grade="wrong",
            comment=None,
            user_id=user.id,
        )


def _rescan(batch_id: int, old: GradedPage, rel_path: str) -> GradedPage:
    """A new version of ``old``'s document at the same path, graded; the old one replaced."""
    with session_scope() as session:
        session.execute(
            update(Document)
            .where(Document.id == old.document_id)
            .values(superseded_at=text("now()"))
        )
    owner = student("7A", "bob")
    questions = [(1, [1]), (1, [1, 1]), (1, [1, 1])]
    new = graded_page(batch_id, rel_path, questions, owner=owner, version=2)
    with session_scope() as session:
        session.execute(
            update(Document)
            .where(Document.id == old.document_id)
            .values(superseded_by=new.document_id)
        )
    return new


def test_a_rescan_lists_the_old_overrides_for_review(night: Night) -> None:
    batch_id = new_batch("rescan")
    path = "7A/bob/homework.pdf"
    old = graded_page(
        batch_id, path, [(2, [2]), (1, [1, 1]), (2, [2, 1])], owner=student("7A", "bob")
    )
    _override(night.teacher, old, 0, 1, "partial")
    _override(night.teacher, old, 2, None, "correct")
    new = _rescan(batch_id, old, path)
    with session_scope() as session:
        listed = overrides_to_review(session, batch_id)
        report = load_report(session, batch_id)
    assert [(i.old, i.new_page_id, i.override.grade) for i in listed] == [
        (OverrideKey(old.page_id, 0, 0, 1), new.page_id, "partial"),
        (OverrideKey(old.page_id, 0, 2, None), new.page_id, "correct"),
    ]
    (page,) = report.pages
    assert page.page_id == new.page_id and len(page.to_review) == report.to_review == 2
    shown = _signed_in_admin().get(f"/pages/{new.page_id}").text.split('id="to-review"', 1)[1]
    assert "Q1.1: ms-li set partial" in shown and "Q3 (whole question)" in shown
    assert rows("SELECT * FROM v_slot_results WHERE page_id = :p", p=old.page_id) == []
    _override(night.teacher, new, 2, None, None)  # looked at: nothing to change after all
    with session_scope() as session:
        (left,) = overrides_to_review(session, batch_id)
        assert overrides_to_review(session) != []  # every batch's
    assert left.old.question_seq == 0


def _signed_in_admin() -> TestClient:
    """The teachers' app, signed in as an admin (who sees every class)."""
    name = f"admin-{uuid.uuid4().hex[:6]}"
    with session_scope() as session:
        add_user(session, name, web.PASSWORD, "admin", [])
    app = create_app("r" * 48, get_store(), redis.Redis.from_url(get_settings().redis_url))
    client = TestClient(app)
    web.sign_in(client, name)
    return client


def test_replay_keeps_the_overrides(night: Night) -> None:
    sql = (
        "SELECT page_id, question_sequence, slot_sequence, question_id, slot_id, correct_result,"
        " question_correct_result, overridden FROM v_slot_results WHERE batch_id = :b"
    )
    before = {
        (r["page_id"], r["question_sequence"], r["slot_sequence"]): r
        for r in rows(sql, b=night.batch_id)
    }
    replayed = replay_batch(night.batch_id, get_store())
    after = {
        (r["page_id"], r["question_sequence"], r["slot_sequence"]): r
        for r in rows(sql, b=night.batch_id)
    }
    assert replayed.tasks == len(night.pages)
    assert after.keys() == before.keys()
    for key, row in after.items():
        assert row["slot_id"] != before[key]["slot_id"], "replay wrote the rows again"
        kept = ("correct_result", "question_correct_result", "overridden")
        assert [row[c] for c in kept] == [before[key][c] for c in kept], key
    assert sum(row["overridden"] for row in after.values()) == 6
