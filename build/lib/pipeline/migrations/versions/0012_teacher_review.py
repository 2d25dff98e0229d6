"""Teachers review the grades: accounts, an append-only history of overrides, effective grades.

``users`` are the review app's accounts (``admin`` sees every class, ``teacher`` the classes
of ``user_classes``); the password is kept as an argon2id hash, which analysts may not read.
``grade_overrides`` is the history of every change a teacher made to a grade, one row per
change, never updated or deleted (a trigger refuses both; rows go only with their page). An
override names its slot by natural keys, (page, image_index, question sequence, slot
sequence; NULL: the whole question), not by ``questions.id``/``slots.id``: ``scangrade
replay`` deletes and writes the result rows again with new ids, and the overrides still
apply. The provider's rows are never changed. The latest row of a key (highest id) is the
override in force; a row with NULL grade withdraws it.

The grades the views show are now the effective ones (docs/schema.md, *Grades and rates*,
and ``pipeline.domain.grades``, which the report uses): a slot's own override, else its
question's whole-question override, else the provider's grade; a question's override, else
the provider's. ``correct_results`` gains code 4, ``partial``, which only a teacher gives and
which counts half in a rate. ``v_slot_results``, ``v_question_stats`` and
``v_student_totals`` keep their columns (now effective) and gain, at the end, the provider's
own grade, whether a teacher overrode it, and a rate per slot and a rate per question.
``v_question_results`` (one row per question), ``v_grade_overrides_current`` (the overrides
in force) and ``v_overrides_to_review`` (overrides on a version replaced by a rescan, with
the new page to look at) are new.

Revision ID: 0012_teacher_review
Revises: 0011_repairs
Create Date: 2026-12-04 18:00:00.000000
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision = "0012_teacher_review"
down_revision = "0011_repairs"
branch_labels = None
depends_on = None

ROLE = "scangrade_analyst"
CODES = "(1, 2, 3, 4)"  # graded: correct, wrong, unanswered, partial
_USER_COLUMNS = "id, username, role, created_at, disabled_at"  # password_hash: not analysts'
_REFERENCE_COMMENT = (
    "Meaning of the grade codes: questions/slots.correct_result (the provider's, 0-3) and "
    "the views' effective grades (4 partial: a teacher's grade only)."
)
_OLD_REFERENCE_COMMENT = "Meaning of questions/slots.correct_result."


def _load(filename: str, name: str) -> ModuleType:
    path = Path(__file__).with_name(filename)
    module_spec = importlib.util.spec_from_file_location(name, path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _quoted(comment: str) -> str:
    return "'" + comment.replace("'", "''") + "'"


def _comment(view: str, comment: str, columns: dict[str, str]) -> None:
    op.execute(f"COMMENT ON VIEW {view} IS {_quoted(comment)}")
    for column, text in columns.items():
        op.execute(f"COMMENT ON COLUMN {view}.{column} IS {_quoted(text)}")


def _rate(column: str) -> str:
    """(correct + partial / 2) / graded, to 4 decimals; NULL when nothing is graded."""
    return (
        f"round((2 * count(*) FILTER (WHERE {column} = 1) "
        f"+ count(*) FILTER (WHERE {column} = 4))::numeric\n"
        f"                 / nullif(2 * count(*) FILTER (WHERE {column} IN {CODES}), 0), 4)"
    )


# A grade code in words: its meaning, NULL read as not graded, an unknown code kept.
_MEANING = (
    "CASE WHEN {code} IS NULL THEN 'not graded' "
    "ELSE coalesce({meaning}, 'unknown (' || {code} || ')') END"
)

_ASSIGNMENT = (
    "coalesce(o.assignment, CASE WHEN d.kind <> 'image_set' "
    "AND split_part(d.rel_path, '/', 3) <> ''\n"
    "                THEN split_part(d.rel_path, '/', -1) END)::text"
)

# ---------------------------------------------------------------------------------------------
# Tables


def _users() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True, comment="Surrogate key."),
        sa.Column(
            "username",
            sa.Text(),
            nullable=False,
            unique=True,
            comment="The name the person signs in with (unique, disabled accounts included).",
        ),
        sa.Column(
            "password_hash",
            sa.Text(),
            nullable=False,
            comment="argon2id hash of the password (PHC string), never the password itself; "
            "analysts may not read it.",
        ),
        sa.Column(
            "role",
            sa.Text(),
            nullable=False,
            comment="admin (sees and grades every class) or teacher (the classes of user_classes).",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the row was inserted.",
        ),
        sa.Column(
            "disabled_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the account was disabled: it can no longer sign in or grade, and "
            "its overrides stay; NULL while active.",
        ),
        sa.CheckConstraint("role IN ('admin', 'teacher')", name="ck_users_role"),
        comment="Accounts of the teachers' review app (scangrade users add|list|disable).",
    )
    op.create_table(
        "user_classes",
        sa.Column(
            "user_id",
            sa.BigInteger(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
            comment="The teacher (users.id).",
        ),
        sa.Column(
            "class_id",
            sa.BigInteger(),
            sa.ForeignKey("classes.id", ondelete="CASCADE"),
            primary_key=True,
            comment="A class the teacher may see and grade (classes.id).",
        ),
        comment="The classes each teacher may see and grade; admins see every class.",
    )


def _grade_overrides() -> None:
    op.create_table(
        "grade_overrides",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True, comment="Surrogate key."),
        sa.Column(
            "page_id",
            sa.BigInteger(),
            sa.ForeignKey("pages.id", ondelete="CASCADE"),
            nullable=False,
            comment="The graded page (pages.id).",
        ),
        sa.Column(
            "image_index",
            sa.Integer(),
            nullable=False,
            comment="The question's questions.image_index on the page.",
        ),
        sa.Column(
            "question_seq",
            sa.Integer(),
            nullable=False,
            comment="The question's questions.sequence on the page (0-based).",
        ),
        sa.Column(
            "slot_seq",
            sa.Integer(),
            nullable=True,
            comment="The slot's slots.sequence in the question (1-based); NULL: the whole "
            "question (its grade, and that of each slot without an override of its own).",
        ),
        sa.Column(
            "grade",
            sa.Text(),
            nullable=True,
            comment="The teacher's grade: correct, wrong or partial; NULL withdraws the "
            "override (back to the provider's grade).",
        ),
        sa.Column("comment", sa.Text(), nullable=True, comment="Why, in the teacher's words."),
        sa.Column(
            "user_id",
            sa.BigInteger(),
            sa.ForeignKey("users.id", ondelete="RESTRICT"),
            nullable=False,
            comment="Who made the change (users.id).",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the change was made.",
        ),
        sa.CheckConstraint(
            "grade IN ('correct', 'wrong', 'partial')", name="ck_grade_overrides_grade"
        ),
        comment="Teachers' changes to grades, one row per change, never updated or deleted: "
        "the latest row of a (page_id, image_index, question_seq, slot_seq) is in force "
        "(v_grade_overrides_current).",
    )
    op.create_index(
        "ix_grade_overrides_key",
        "grade_overrides",
        ["page_id", "image_index", "question_seq", "slot_seq", "id"],
    )
    op.create_index("ix_grade_overrides_user_id", "grade_overrides", ["user_id"])
    op.execute(APPEND_ONLY)
    op.execute(
        "CREATE TRIGGER grade_overrides_append_only BEFORE UPDATE OR DELETE ON grade_overrides "
        "FOR EACH ROW EXECUTE FUNCTION grade_overrides_append_only()"
    )


# A delete cascading from its page's (a batch deleted) runs inside the foreign key's own
# trigger, at depth 2; an UPDATE, or a DELETE of the history itself, is refused.
APPEND_ONLY = """
CREATE FUNCTION grade_overrides_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND pg_trigger_depth() > 1 THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'grade_overrides is append-only: record a new row instead';
END
$$
"""

# ---------------------------------------------------------------------------------------------
# Views

OVERRIDES_CURRENT = """
    SELECT o.id AS override_id,
           p.batch_id,
           p.document_id,
           d.rel_path,
           p.page_no,
           o.page_id,
           o.image_index,
           o.question_seq,
           o.slot_seq,
           o.grade,
           CASE o.grade WHEN 'correct' THEN 1 WHEN 'wrong' THEN 2 WHEN 'partial' THEN 4 END
               AS correct_result,
           o.comment,
           o.user_id,
           u.username,
           o.created_at
    FROM (
        SELECT DISTINCT ON (page_id, image_index, question_seq, slot_seq)
               id, page_id, image_index, question_seq, slot_seq, grade, comment, user_id,
               created_at
        FROM grade_overrides
        ORDER BY page_id, image_index, question_seq, slot_seq, id DESC
    ) o
    JOIN users u ON u.id = o.user_id
    JOIN pages p ON p.id = o.page_id
    JOIN documents d ON d.id = p.document_id
    WHERE o.grade IS NOT NULL
"""

_OVERRIDES_CURRENT_COMMENTS = {
    "override_id": "The row of grade_overrides in force (grade_overrides.id).",
    "batch_id": "The page's batch (batches.id).",
    "document_id": "The page's document (documents.id); maybe a version replaced by a rescan.",
    "rel_path": "The document's path relative to the batch directory.",
    "page_no": "1-based page number in the document.",
    "page_id": "The graded page (pages.id).",
    "image_index": "The question's image_index on the page.",
    "question_seq": "The question's sequence on the page (0-based).",
    "slot_seq": "The slot's sequence in the question (1-based); NULL: the whole question.",
    "grade": "The teacher's grade: correct, wrong or partial.",
    "correct_result": "The grade as a code (correct_results): 1 correct, 2 wrong, 4 partial.",
    "comment": "Why, in the teacher's words.",
    "user_id": "Who set it (users.id).",
    "username": "Who set it (users.username).",
    "created_at": "When it was set.",
}

# The overrides of a slot and of its question, joined to slots s and questions q.
_OVERRIDE_JOINS = """
    LEFT JOIN v_grade_overrides_current qo
      ON qo.page_id = q.page_id AND qo.image_index = q.image_index
     AND qo.question_seq = q.sequence AND qo.slot_seq IS NULL
"""
_SLOT_OVERRIDE_JOIN = """
    LEFT JOIN v_grade_overrides_current so
      ON so.page_id = s.page_id AND so.image_index = q.image_index
     AND so.question_seq = q.sequence AND so.slot_seq = s.sequence
"""

SLOT_RESULTS = rf"""
    SELECT b.id AS batch_id,
           b.name AS batch,
           o.class_name,
           o.student,
           d.id AS document_id,
           d.rel_path,
           {_ASSIGNMENT} AS assignment,
           p.id AS page_id,
           p.page_no,
           q.id AS question_id,
           q.question_uid,
           q.image_index,
           q.sequence AS question_sequence,
           q.type AS question_type,
           qt.meaning AS question_type_meaning,
           nullif(q.question_text, '') AS question_text,
           q.subject,
           g.question_code AS question_correct_result,
           {_MEANING.format(code="g.question_code", meaning="qcr.meaning")} AS question_result,
           s.id AS slot_id,
           s.slot_uid,
           s.sequence AS slot_sequence,
           nullif(btrim(substring(s.reason FROM '\[NORM:([^]]*)\]')), '') AS answer,
           g.slot_code AS correct_result,
           {_MEANING.format(code="g.slot_code", meaning="scr.meaning")} AS result,
           s.reason,
           o.student_id,
           o.student_code,
           s.correct_result AS provider_correct_result,
           {_MEANING.format(code="s.correct_result", meaning="pcr.meaning")} AS provider_result,
           q.correct_result AS provider_question_correct_result,
           coalesce(so.override_id, qo.override_id) IS NOT NULL AS overridden,
           qo.override_id IS NOT NULL AS question_overridden,
           CASE WHEN so.override_id IS NULL THEN qo.username ELSE so.username END
               AS overridden_by,
           CASE WHEN so.override_id IS NULL THEN qo.created_at ELSE so.created_at END
               AS overridden_at,
           CASE WHEN so.override_id IS NULL THEN qo.comment ELSE so.comment END
               AS override_comment
    FROM slots s
    JOIN questions q ON q.id = s.question_id
    JOIN pages p ON p.id = s.page_id
    JOIN documents d ON d.id = p.document_id
    JOIN batches b ON b.id = p.batch_id
    JOIN v_page_owners o ON o.page_id = p.id
    {_OVERRIDE_JOINS}
    {_SLOT_OVERRIDE_JOIN}
    CROSS JOIN LATERAL (
        SELECT coalesce(so.correct_result, qo.correct_result, s.correct_result) AS slot_code,
               coalesce(qo.correct_result, q.correct_result) AS question_code
    ) g
    LEFT JOIN question_types qt ON qt.code = q.type
    LEFT JOIN correct_results qcr ON qcr.code = g.question_code
    LEFT JOIN correct_results scr ON scr.code = g.slot_code
    LEFT JOIN correct_results pcr ON pcr.code = s.correct_result
"""

_EFFECTIVE = " Effective: a teacher's override when one is in force (see overridden)."

_SLOT_RESULTS_COMMENT = (
    "correct_edu: one row per graded answer slot, with its batch, class, student, document, "
    "page and question, the answer read, and its effective grade in words (a teacher's "
    "override in force, else the provider's; the provider's own is kept beside it)."
)

_SLOT_RESULTS_COMMENTS = {
    "question_correct_result": "The whole question's grade code: 0 not graded, 1 correct, "
    "2 wrong, 3 unanswered, 4 partial." + _EFFECTIVE,
    "question_result": "The whole question's grade in words." + _EFFECTIVE,
    "correct_result": "The slot's grade code: 0 not graded, 1 correct, 2 wrong, 3 unanswered, "
    "4 partial." + _EFFECTIVE,
    "result": "The slot's grade in words: correct, wrong, unanswered, partial or not graded."
    + _EFFECTIVE,
    "provider_correct_result": "The slot's grade as the provider gave it (slots.correct_result).",
    "provider_result": "The provider's grade of the slot in words.",
    "provider_question_correct_result": "The whole question's grade as the provider gave it "
    "(questions.correct_result).",
    "overridden": "Whether a teacher's override sets the slot's grade: its own, or its "
    "question's whole-question override.",
    "question_overridden": "Whether a teacher's whole-question override sets the question's grade.",
    "overridden_by": "Who set the override in force for the slot (users.username); NULL when "
    "not overridden.",
    "overridden_at": "When that override was set.",
    "override_comment": "That override's comment.",
}

QUESTION_RESULTS = f"""
    SELECT b.id AS batch_id,
           b.name AS batch,
           o.class_name,
           o.student,
           o.student_id,
           o.student_code,
           d.id AS document_id,
           d.rel_path,
           {_ASSIGNMENT} AS assignment,
           p.id AS page_id,
           p.page_no,
           q.id AS question_id,
           q.question_uid,
           q.image_index,
           q.sequence AS question_sequence,
           q.type AS question_type,
           qt.meaning AS question_type_meaning,
           nullif(q.question_text, '') AS question_text,
           q.subject,
           g.code AS correct_result,
           {_MEANING.format(code="g.code", meaning="cr.meaning")} AS result,
           q.correct_result AS provider_correct_result,
           {_MEANING.format(code="q.correct_result", meaning="pcr.meaning")} AS provider_result,
           qo.override_id IS NOT NULL AS overridden,
           qo.username AS overridden_by,
           qo.created_at AS overridden_at,
           qo.comment AS override_comment,
           (SELECT count(*) FROM slots s WHERE s.question_id = q.id) AS slots
    FROM questions q
    JOIN pages p ON p.id = q.page_id
    JOIN documents d ON d.id = p.document_id
    JOIN batches b ON b.id = p.batch_id
    JOIN v_page_owners o ON o.page_id = p.id
    {_OVERRIDE_JOINS}
    CROSS JOIN LATERAL (SELECT coalesce(qo.correct_result, q.correct_result) AS code) g
    LEFT JOIN question_types qt ON qt.code = q.type
    LEFT JOIN correct_results cr ON cr.code = g.code
    LEFT JOIN correct_results pcr ON pcr.code = q.correct_result
"""

_QUESTION_RESULTS_COMMENTS = {
    "batch_id": "The batch (batches.id).",
    "batch": "The batch's name.",
    "class_name": "Class, from v_page_owners; NULL when unknown.",
    "student": "Student's name, from v_page_owners; NULL when no student matched.",
    "student_id": "The student (students.id); NULL when no student matched.",
    "student_code": "The school's id of the student; NULL when no student matched.",
    "document_id": "The scanned file (documents.id).",
    "rel_path": "The document's path relative to the batch directory.",
    "assignment": "The manifest's assignment, else the file name below the student's folder; "
    "NULL for an image set or a file outside the layout.",
    "page_id": "The page (pages.id).",
    "page_no": "1-based page number in the document.",
    "question_id": "The question (questions.id).",
    "question_uid": "Provider's questionId; differs from student to student.",
    "image_index": "Index in imageResults (always 0 today).",
    "question_sequence": "Order of the question on the page, 0-based.",
    "question_type": "Question type code (question_types.code).",
    "question_type_meaning": "The question type in words; NULL for a code not described.",
    "question_text": "Question text, when the provider read one; NULL otherwise.",
    "subject": "Page subject (paperSubject): math, english, chinese…",
    "correct_result": "The question's grade code: 0 not graded, 1 correct, 2 wrong, "
    "3 unanswered, 4 partial." + _EFFECTIVE,
    "result": "The question's grade in words." + _EFFECTIVE,
    "provider_correct_result": "The question's grade as the provider gave it.",
    "provider_result": "The provider's grade of the question in words.",
    "overridden": "Whether a teacher's whole-question override sets the grade.",
    "overridden_by": "Who set it (users.username); NULL when not overridden.",
    "overridden_at": "When it was set.",
    "override_comment": "Its comment.",
    "slots": "Answer slots of the question (a slot override does not change the question's grade).",
}

# Counts of slots by effective grade over v_slot_results rows, for the per-question and
# per-student views. Not graded (0, NULL or an unknown code) stays out of the rate.
_SLOT_COUNTS = f"""
           count(*) AS slots,
           count(*) FILTER (WHERE correct_result IN (1, 2, 4)) AS answered,
           count(*) FILTER (WHERE correct_result = 1) AS correct,
           count(*) FILTER (WHERE correct_result = 2) AS wrong,
           count(*) FILTER (WHERE correct_result = 3) AS unanswered,
           count(*) FILTER (WHERE correct_result IS NULL OR correct_result NOT IN {CODES})
               AS not_graded,
           count(*) FILTER (WHERE correct_result = 4) AS partial,
           count(*) FILTER (WHERE overridden) AS slots_overridden,
           {_rate("correct_result")} AS slot_correct_rate
"""

_QUESTION_COUNTS = f"""
           count(*) AS questions,
           count(*) FILTER (WHERE correct_result = 1) AS questions_correct,
           count(*) FILTER (WHERE correct_result IN {CODES}) AS questions_graded,
           count(*) FILTER (WHERE correct_result = 4) AS questions_partial,
           count(*) FILTER (WHERE overridden) AS questions_overridden,
           {_rate("correct_result")} AS question_correct_rate
"""

# The columns both aggregating views end with, in this order, from per_slot ps and
# per_question pq.
_APPENDED = """
           coalesce(ps.partial, 0) AS partial,
           ps.slot_correct_rate,
           coalesce(pq.questions_graded, 0) AS questions_graded,
           coalesce(pq.questions_partial, 0) AS questions_partial,
           pq.question_correct_rate,
           coalesce(ps.slots_overridden, 0) AS slots_overridden,
           coalesce(pq.questions_overridden, 0) AS questions_overridden
"""

_SLOT_COLUMNS = """
           coalesce(ps.slots, 0) AS slots,
           coalesce(ps.answered, 0) AS answered,
           coalesce(ps.correct, 0) AS correct,
           coalesce(ps.wrong, 0) AS wrong,
           coalesce(ps.unanswered, 0) AS unanswered,
           coalesce(ps.not_graded, 0) AS not_graded,
           ps.slot_correct_rate AS correct_rate"""

_POSITION = "batch_id, assignment, page_no, image_index, question_sequence"

QUESTION_STATS = f"""
    WITH per_question AS (
        SELECT {_POSITION}, batch, {_QUESTION_COUNTS}
        FROM v_question_results
        GROUP BY {_POSITION}, batch
    ), per_slot AS (
        SELECT {_POSITION}, {_SLOT_COUNTS}
        FROM v_slot_results
        GROUP BY {_POSITION}
    )
    SELECT pq.batch_id,
           pq.batch,
           pq.assignment,
           pq.page_no,
           pq.image_index,
           pq.question_sequence,
           pq.questions,
           pq.questions_correct,{_SLOT_COLUMNS},
           {_APPENDED}
    FROM per_question pq
    LEFT JOIN per_slot ps
      ON ps.batch_id = pq.batch_id
     AND ps.assignment IS NOT DISTINCT FROM pq.assignment
     AND ps.page_no = pq.page_no
     AND ps.image_index = pq.image_index
     AND ps.question_sequence = pq.question_sequence
"""

_OWNER = "batch_id, class_name, student_id"

STUDENT_TOTALS = f"""
    WITH per_page AS (
        SELECT p.batch_id,
               o.class_name,
               o.student,
               o.student_id,
               count(DISTINCT p.document_id) AS documents,
               count(*) AS pages,
               count(*) FILTER (WHERE p.state = 'done') AS pages_done,
               count(*) FILTER (WHERE p.state = 'failed') AS pages_failed,
               count(*) FILTER (WHERE p.state = 'skipped') AS pages_skipped
        FROM pages p
        JOIN v_page_owners o ON o.page_id = p.id
        GROUP BY p.batch_id, o.class_name, o.student, o.student_id
    ), per_question AS (
        SELECT {_OWNER}, {_QUESTION_COUNTS}
        FROM v_question_results
        GROUP BY {_OWNER}
    ), per_slot AS (
        SELECT {_OWNER}, {_SLOT_COUNTS}
        FROM v_slot_results
        GROUP BY {_OWNER}
    )
    SELECT b.id AS batch_id,
           b.name AS batch,
           pp.class_name,
           pp.student,
           pp.documents,
           pp.pages,
           pp.pages_done,
           pp.pages_failed,
           coalesce(pq.questions, 0) AS questions,
           coalesce(pq.questions_correct, 0) AS questions_correct,{_SLOT_COLUMNS},
           pp.student_id,
           pp.pages_skipped,
           {_APPENDED}
    FROM per_page pp
    JOIN batches b ON b.id = pp.batch_id
    LEFT JOIN per_question pq
      ON pq.batch_id = pp.batch_id
     AND pq.class_name IS NOT DISTINCT FROM pp.class_name
     AND pq.student_id IS NOT DISTINCT FROM pp.student_id
    LEFT JOIN per_slot ps
      ON ps.batch_id = pp.batch_id
     AND ps.class_name IS NOT DISTINCT FROM pp.class_name
     AND ps.student_id IS NOT DISTINCT FROM pp.student_id
"""

_RATE_RULE = (
    "(correct + partial / 2) / (correct + partial + wrong + unanswered), between 0 and 1, "
    "4 decimals; not graded left out; NULL when nothing was graded."
)

_COUNT_COMMENTS = {
    "answered": "Slots with an answer: correct, partial or wrong.",
    "correct": "Slots graded correct (effective grade).",
    "wrong": "Slots graded wrong (effective grade).",
    "unanswered": "Slots left unanswered (effective grade).",
    "not_graded": "Slots not graded (code 0, NULL or unknown): left out of the rates.",
    "correct_rate": "The same as slot_correct_rate (kept for queries written before it).",
    "partial": "Slots a teacher graded partial: they count half in the rate.",
    "slot_correct_rate": "Correct rate per slot: " + _RATE_RULE,
    "questions_correct": "Of the questions, graded correct as a whole (effective grade).",
    "questions_graded": "Of the questions, graded: correct, partial, wrong or unanswered.",
    "questions_partial": "Of the questions, graded partial by a teacher.",
    "question_correct_rate": "Correct rate per question, over the questions' own grades: "
    + _RATE_RULE,
    "slots_overridden": "Slots whose grade a teacher's override sets.",
    "questions_overridden": "Questions whose grade a teacher's whole-question override sets.",
}

_QUESTION_STATS_COMMENT = (
    "correct_edu: per batch, statistics of each question, matched across students by "
    "position (assignment, page, question number): questions and slots by effective grade "
    "(teachers' overrides applied), a correct rate per slot and one per question."
)

_STUDENT_TOTALS_COMMENT = (
    "Per batch, class and student: pages, and correct_edu questions and slots by effective "
    "grade (teachers' overrides applied), with a correct rate per slot and one per question. "
    "Pages no student matched make one row with NULL student."
)

OVERRIDES_TO_REVIEW = """
    SELECT c.batch_id,
           b.name AS batch,
           c.rel_path,
           c.page_no,
           c.image_index,
           c.question_seq,
           c.slot_seq,
           c.grade,
           c.comment,
           c.username,
           c.created_at,
           c.override_id,
           c.document_id AS old_document_id,
           old.version AS old_version,
           c.page_id AS old_page_id,
           cur.id AS new_document_id,
           cur.version AS new_version,
           np.id AS new_page_id
    FROM v_grade_overrides_current c
    JOIN documents old ON old.id = c.document_id
    JOIN batches b ON b.id = c.batch_id
    LEFT JOIN documents cur
      ON cur.batch_id = old.batch_id AND cur.rel_path = old.rel_path
     AND cur.superseded_at IS NULL
    LEFT JOIN pages np ON np.document_id = cur.id AND np.page_no = c.page_no
    WHERE old.superseded_at IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM grade_overrides n
          WHERE n.page_id = np.id AND n.image_index = c.image_index
            AND n.question_seq = c.question_seq
            AND n.slot_seq IS NOT DISTINCT FROM c.slot_seq
      )
"""

_OVERRIDES_TO_REVIEW_COMMENTS = {
    "batch_id": "The batch (batches.id).",
    "batch": "The batch's name.",
    "rel_path": "The document's path: the same for the old and the new version.",
    "page_no": "1-based page number, the same in both versions.",
    "image_index": "The question's image_index.",
    "question_seq": "The question's sequence on the page (0-based).",
    "slot_seq": "The slot's sequence (1-based); NULL: the whole question.",
    "grade": "The teacher's grade on the old version: correct, wrong or partial.",
    "comment": "Its comment.",
    "username": "Who set it.",
    "created_at": "When it was set.",
    "override_id": "The override in force on the old page (grade_overrides.id).",
    "old_document_id": "The version replaced by the rescan (documents.id).",
    "old_version": "Its documents.version.",
    "old_page_id": "The old version's page the override is on (pages.id).",
    "new_document_id": "The current version at the same path (documents.id).",
    "new_version": "Its documents.version.",
    "new_page_id": "The current version's page of the same number (pages.id); NULL when the "
    "rescan has no such page (yet).",
}

_VIEWS_SHOWN = {
    "v_grade_overrides_current": (
        "The teachers' overrides in force: for each key (page_id, image_index, question_seq, "
        "slot_seq; slot_seq NULL for the whole question) its latest grade_overrides row, "
        "left out once withdrawn (latest grade NULL). The history is grade_overrides itself.",
        _OVERRIDES_CURRENT_COMMENTS,
    ),
    "v_question_results": (
        "correct_edu: one row per graded question, with its batch, class, student, document, "
        "page and position, its effective grade (a teacher's whole-question override, else "
        "the provider's) and the provider's own.",
        _QUESTION_RESULTS_COMMENTS,
    ),
    "v_overrides_to_review": (
        "Overrides in force on a version replaced by a rescan, with the current version's "
        "page of the same path and number: the teacher should look at that page again. A row "
        "goes once the new page has an override row (or a withdrawal) of the same key.",
        _OVERRIDES_TO_REVIEW_COMMENTS,
    ),
}


def upgrade() -> None:
    _users()
    _grade_overrides()
    op.execute(f"REVOKE ALL ON users FROM {ROLE}")
    op.execute(f"GRANT SELECT ({_USER_COLUMNS}) ON users TO {ROLE}")
    for table in ("user_classes", "grade_overrides"):
        op.execute(f"GRANT SELECT ON {table} TO {ROLE}")
    op.execute("INSERT INTO correct_results (code, meaning) VALUES (4, 'partial')")
    op.execute(f"COMMENT ON TABLE correct_results IS {_quoted(_REFERENCE_COMMENT)}")
    _views()


def _views() -> None:
    created = {
        "v_grade_overrides_current": OVERRIDES_CURRENT,
        "v_slot_results": SLOT_RESULTS,
        "v_question_results": QUESTION_RESULTS,
        "v_question_stats": QUESTION_STATS,
        "v_student_totals": STUDENT_TOTALS,
        "v_overrides_to_review": OVERRIDES_TO_REVIEW,
    }
    for name, sql in created.items():
        op.execute(f"CREATE OR REPLACE VIEW {name} AS {sql}")
        op.execute(f"GRANT SELECT ON {name} TO {ROLE}")
    for name, (comment, columns) in _VIEWS_SHOWN.items():
        _comment(name, comment, columns)
    _comment("v_slot_results", _SLOT_RESULTS_COMMENT, _SLOT_RESULTS_COMMENTS)
    _comment("v_question_stats", _QUESTION_STATS_COMMENT, _COUNT_COMMENTS)
    _comment(
        "v_student_totals",
        _STUDENT_TOTALS_COMMENT,
        _COUNT_COMMENTS
        | {
            "questions": "correct_edu questions graded on the student's pages.",
            "slots": "correct_edu answer slots on the student's pages.",
        },
    )


def downgrade() -> None:
    for name in (
        "v_overrides_to_review",
        "v_student_totals",
        "v_question_stats",
        "v_question_results",
        "v_slot_results",
        "v_grade_overrides_current",
    ):
        op.execute(f"DROP VIEW {name}")
    _previous_views()
    op.execute(f"COMMENT ON TABLE correct_results IS {_quoted(_OLD_REFERENCE_COMMENT)}")
    op.execute("DELETE FROM correct_results WHERE code = 4")
    op.drop_table("grade_overrides")
    op.execute("DROP FUNCTION grade_overrides_append_only()")
    op.drop_table("user_classes")
    op.drop_table("users")


def _previous_views() -> None:
    """The three views as 0011 left them: 0008's SQL (0007's for v_question_stats), comments."""
    v8 = _load("0008_students_and_blank_pages.py", "scangrade_migration_0008")
    v7 = v8._previous()
    sql = {
        "v_slot_results": v8.slot_results_sql(v7),
        "v_question_stats": v7.QUESTION_STATS.sql,
        "v_student_totals": v8.student_totals_sql(v7),
    }
    by_name = {view.name: view for view in v7.VIEWS}
    for name, definition in sql.items():
        op.execute(f"CREATE VIEW {name} AS {definition}")
        view = by_name[name]
        _comment(name, view.comment, view.columns | v8.COLUMN_COMMENTS.get(name, {}))
        op.execute(f"GRANT SELECT ON {name} TO {ROLE}")
