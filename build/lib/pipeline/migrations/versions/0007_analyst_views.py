"""Views for analysts: results per slot, per question and per student, progress, failures.

Every view is named ``v_…`` and reads only the base tables (and ``v_page_owners``), so
analysts ask the common questions without writing the joins; docs/analysts.md describes each
one with worked queries. ``scangrade_analyst`` may SELECT them: 0006's default privileges
already cover views created by the migrating role, and each view is also granted explicitly
in case this migration runs as another role.

Students and classes have no table yet. ``v_page_owners`` is the one place that derives a
page's class and student, from its document's path (``<class>/<student>/<file>``, or an
image-set folder ``<class>/<student>``); every other view joins it. When pages are linked to
real student rows, a migration replaces that view alone with ``CREATE OR REPLACE VIEW``
(same column names and types, in the same order; new columns only at the end).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from typing import NamedTuple

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ROLE = "scangrade_analyst"


# Not a dataclass: Alembic loads this file outside sys.modules, which dataclasses need.
class View(NamedTuple):
    name: str
    comment: str
    sql: str
    columns: dict[str, str]


# A slot's grade in words: the code's meaning, NULL read as not graded, an unknown code kept.
_MEANING = (
    "CASE WHEN {code} IS NULL THEN 'not graded' "
    "ELSE coalesce({meaning}, 'unknown (' || {code} || ')') END"
)

PAGE_OWNERS = View(
    "v_page_owners",
    "The class and student each page belongs to. Stand-in until students and classes have "
    "tables: taken from the document's path, <class>/<student>/<file> (or an image-set "
    "folder <class>/<student>); NULL for a path outside that layout. The other v_ views "
    "join this one, so replacing it alone changes them all.",
    """
    SELECT p.id AS page_id,
           CASE WHEN o.owned THEN split_part(d.rel_path, '/', 1) END::text AS class_name,
           CASE WHEN o.owned THEN split_part(d.rel_path, '/', 2) END::text AS student
    FROM pages p
    JOIN documents d ON d.id = p.document_id
    CROSS JOIN LATERAL (
        SELECT split_part(d.rel_path, '/', 3) <> ''
               OR (d.kind = 'image_set' AND split_part(d.rel_path, '/', 2) <> '') AS owned
    ) o
    """,
    {
        "page_id": "The page (pages.id).",
        "class_name": "Class: first folder of the document's path; NULL outside the layout.",
        "student": "Student: second folder of the document's path (an image set's own "
        "folder); NULL outside the layout.",
    },
)

SLOT_RESULTS = View(
    "v_slot_results",
    "correct_edu: one row per graded answer slot, with its batch, class, student, document, "
    "page and question, the answer read and the grade in words.",
    rf"""
    SELECT b.id AS batch_id,
           b.name AS batch,
           o.class_name,
           o.student,
           d.id AS document_id,
           d.rel_path,
           CASE WHEN d.kind <> 'image_set' AND split_part(d.rel_path, '/', 3) <> ''
                THEN split_part(d.rel_path, '/', -1) END::text AS assignment,
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
           q.correct_result AS question_correct_result,
           {_MEANING.format(code="q.correct_result", meaning="qcr.meaning")} AS question_result,
           s.id AS slot_id,
           s.slot_uid,
           s.sequence AS slot_sequence,
           nullif(btrim(substring(s.reason FROM '\[NORM:([^]]*)\]')), '') AS answer,
           s.correct_result,
           {_MEANING.format(code="s.correct_result", meaning="scr.meaning")} AS result,
           s.reason
    FROM slots s
    JOIN questions q ON q.id = s.question_id
    JOIN pages p ON p.id = s.page_id
    JOIN documents d ON d.id = p.document_id
    JOIN batches b ON b.id = p.batch_id
    JOIN v_page_owners o ON o.page_id = p.id
    LEFT JOIN question_types qt ON qt.code = q.type
    LEFT JOIN correct_results qcr ON qcr.code = q.correct_result
    LEFT JOIN correct_results scr ON scr.code = s.correct_result
    """,
    {
        "batch_id": "The batch (batches.id).",
        "batch": "The batch's name.",
        "class_name": "Class, from v_page_owners; NULL outside the directory layout.",
        "student": "Student, from v_page_owners; NULL outside the directory layout.",
        "document_id": "The scanned file (documents.id).",
        "rel_path": "The document's path relative to the batch directory.",
        "assignment": "The file name below the student's folder (homework.pdf), which names "
        "the work; NULL for an image set or a file outside the layout, whose questions are "
        "matched by page and number alone.",
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
        "question_correct_result": "The whole question's grade code: 0 not graded, "
        "1 correct, 2 wrong, 3 unanswered.",
        "question_result": "The whole question's grade in words.",
        "slot_id": "The slot (slots.id).",
        "slot_uid": "Provider's slotId.",
        "slot_sequence": "Order of the slot in its question, 1-based.",
        "answer": "The answer as the provider read it (the NORM tag of its reason); NULL "
        "when none was read.",
        "correct_result": "The slot's grade code: 0 not graded, 1 correct, 2 wrong, 3 unanswered.",
        "result": "The slot's grade in words: correct, wrong, unanswered or not graded.",
        "reason": "Provider's grading explanation.",
    },
)

# Counts of slots by grade over v_slot_results rows, shared by the per-question and
# per-student views. Not graded (0, NULL or an unknown code) stays out of the rate.
_SLOT_COUNTS = """
           count(*) AS slots,
           count(*) FILTER (WHERE correct_result IN (1, 2)) AS answered,
           count(*) FILTER (WHERE correct_result = 1) AS correct,
           count(*) FILTER (WHERE correct_result = 2) AS wrong,
           count(*) FILTER (WHERE correct_result = 3) AS unanswered,
           count(*) FILTER (WHERE correct_result IS NULL OR correct_result NOT IN (1, 2, 3))
               AS not_graded,
           round(count(*) FILTER (WHERE correct_result = 1)::numeric
                 / nullif(count(*) FILTER (WHERE correct_result IN (1, 2, 3)), 0), 4)
               AS correct_rate
"""

_SLOT_COUNT_COMMENTS = {
    "slots": "Answer slots graded at this place.",
    "answered": "Slots with an answer: correct or wrong.",
    "correct": "Slots graded correct.",
    "wrong": "Slots graded wrong.",
    "unanswered": "Slots left unanswered.",
    "not_graded": "Slots not graded (code 0, NULL or unknown): left out of the rate.",
    "correct_rate": "correct / (correct + wrong + unanswered), between 0 and 1; NULL when "
    "no slot was graded.",
}

QUESTION_STATS = View(
    "v_question_stats",
    "correct_edu: per batch, statistics of each question, matched across students by "
    "position (assignment, page, question number): slots answered, correct, wrong, "
    "unanswered, and the correct rate.",
    f"""
    SELECT batch_id,
           batch,
           assignment,
           page_no,
           image_index,
           question_sequence,
           count(DISTINCT question_id) AS questions,
           count(DISTINCT question_id) FILTER (WHERE question_correct_result = 1)
               AS questions_correct,
           {_SLOT_COUNTS}
    FROM v_slot_results
    GROUP BY batch_id, batch, assignment, page_no, image_index, question_sequence
    """,
    {
        "batch_id": "The batch (batches.id).",
        "batch": "The batch's name.",
        "assignment": "The file name below the students' folders; NULL for image sets and "
        "files outside the layout.",
        "page_no": "1-based page number in the document.",
        "image_index": "Index in imageResults (always 0 today).",
        "question_sequence": "Order of the question on the page, 0-based.",
        "questions": "Question rows at this position: one per student's sheet.",
        "questions_correct": "Of those, graded correct as a whole.",
        **_SLOT_COUNT_COMMENTS,
    },
)

STUDENT_TOTALS = View(
    "v_student_totals",
    "Per batch, class and student: pages, and correct_edu slots by grade with the correct "
    "rate. Pages outside the directory layout make one row with NULL class and student.",
    f"""
    WITH per_page AS (
        SELECT p.batch_id,
               o.class_name,
               o.student,
               count(DISTINCT p.document_id) AS documents,
               count(*) AS pages,
               count(*) FILTER (WHERE p.state = 'done') AS pages_done,
               count(*) FILTER (WHERE p.state = 'failed') AS pages_failed
        FROM pages p
        JOIN v_page_owners o ON o.page_id = p.id
        GROUP BY p.batch_id, o.class_name, o.student
    ), per_slot AS (
        SELECT batch_id,
               class_name,
               student,
               count(DISTINCT question_id) AS questions,
               count(DISTINCT question_id) FILTER (WHERE question_correct_result = 1)
                   AS questions_correct,
               {_SLOT_COUNTS}
        FROM v_slot_results
        GROUP BY batch_id, class_name, student
    )
    SELECT b.id AS batch_id,
           b.name AS batch,
           pp.class_name,
           pp.student,
           pp.documents,
           pp.pages,
           pp.pages_done,
           pp.pages_failed,
           coalesce(ps.questions, 0) AS questions,
           coalesce(ps.questions_correct, 0) AS questions_correct,
           coalesce(ps.slots, 0) AS slots,
           coalesce(ps.answered, 0) AS answered,
           coalesce(ps.correct, 0) AS correct,
           coalesce(ps.wrong, 0) AS wrong,
           coalesce(ps.unanswered, 0) AS unanswered,
           coalesce(ps.not_graded, 0) AS not_graded,
           ps.correct_rate
    FROM per_page pp
    JOIN batches b ON b.id = pp.batch_id
    LEFT JOIN per_slot ps
      ON ps.batch_id = pp.batch_id
     AND ps.class_name IS NOT DISTINCT FROM pp.class_name
     AND ps.student IS NOT DISTINCT FROM pp.student
    """,
    {
        "batch_id": "The batch (batches.id).",
        "batch": "The batch's name.",
        "class_name": "Class, from v_page_owners; NULL outside the directory layout.",
        "student": "Student, from v_page_owners; NULL outside the directory layout.",
        "documents": "Documents of the student that have pages.",
        "pages": "Pages of the student, of every API and state.",
        "pages_done": "Of those, done.",
        "pages_failed": "Of those, failed.",
        "questions": "correct_edu questions graded on the student's pages.",
        "questions_correct": "Of those, graded correct as a whole.",
        **_SLOT_COUNT_COMMENTS,
        "slots": "correct_edu answer slots on the student's pages.",
    },
)

_DOCUMENT_STATES = ("pending", "ingesting", "ingested", "failed", "skipped")
_PAGE_STATES = ("ready", "submitting", "submitted", "persisting", "archiving", "done", "failed")


def _by_state(prefix: str, states: tuple[str, ...]) -> str:
    """``count(*) FILTER (WHERE state = 'x') AS <prefix>_x, …`` for each state."""
    return ", ".join(
        f"count(*) FILTER (WHERE state = '{state}') AS {prefix}_{state}" for state in states
    )


def _columns(alias: str, prefix: str, states: tuple[str, ...]) -> str:
    return ", ".join(f"{alias}.{prefix}_{state}" for state in states)


BATCH_PROGRESS = View(
    "v_batch_progress",
    "Per batch: documents and pages by state, the share done, when it started and "
    "finished, and the create_task calls repeated after a lost answer.",
    f"""
    SELECT b.id AS batch_id,
           b.name AS batch,
           b.api,
           b.state,
           b.created_at AS started_at,
           b.finished_at,
           coalesce(b.finished_at, now()) - b.created_at AS elapsed,
           d.documents,
           {_columns("d", "documents", _DOCUMENT_STATES)},
           p.pages,
           {_columns("p", "pages", _PAGE_STATES)},
           p.pages - p.pages_done - p.pages_failed AS pages_in_flight,
           round(p.pages_done::numeric / nullif(p.pages, 0), 4) AS done_share,
           round((p.pages_done + p.pages_failed)::numeric / nullif(p.pages, 0), 4)
               AS ended_share,
           p.ambiguous_submits
    FROM batches b
    CROSS JOIN LATERAL (
        SELECT count(*) AS documents, {_by_state("documents", _DOCUMENT_STATES)}
        FROM documents WHERE batch_id = b.id
    ) d
    CROSS JOIN LATERAL (
        SELECT count(*) AS pages, {_by_state("pages", _PAGE_STATES)},
               coalesce(sum(ambiguous_submits), 0) AS ambiguous_submits
        FROM pages WHERE batch_id = b.id
    ) p
    """,
    {
        "batch_id": "The batch (batches.id).",
        "batch": "The batch's name.",
        "api": "The batch's default provider API.",
        "state": "running, or done once every page ended.",
        "started_at": "When the batch was enqueued (batches.created_at).",
        "finished_at": "When its last page ended; NULL while running.",
        "elapsed": "finished_at (or now, while running) minus started_at.",
        "documents": "Documents found, rejected files included.",
        **{f"documents_{state}": f"Documents in state {state}." for state in _DOCUMENT_STATES},
        "pages": "Pages known so far (documents still ingesting add more).",
        **{f"pages_{state}": f"Pages in state {state}." for state in _PAGE_STATES},
        "pages_in_flight": "Pages neither done nor failed.",
        "done_share": "pages_done / pages, between 0 and 1; NULL with no page.",
        "ended_share": "(pages_done + pages_failed) / pages; 1 once every known page ended.",
        "ambiguous_submits": "create_task calls repeated because the provider may have "
        "accepted the page already: pages that may be billed twice.",
    },
)

FAILURES = View(
    "v_failures",
    "Every document and page that did not make it: documents failed (rejected when found, "
    "or unreadable) or skipped (already sent), and pages failed, with the reason.",
    """
    SELECT d.batch_id,
           b.name AS batch,
           'document'::text AS level,
           d.state,
           d.id AS document_id,
           d.rel_path,
           d.kind AS document_kind,
           d.api,
           NULL::bigint AS page_id,
           NULL::integer AS page_no,
           d.error_code,
           d.error,
           d.duplicate_of,
           d.updated_at AS at
    FROM documents d
    JOIN batches b ON b.id = d.batch_id
    WHERE d.state IN ('failed', 'skipped')
    UNION ALL
    SELECT p.batch_id,
           b.name,
           'page',
           p.state,
           d.id,
           d.rel_path,
           d.kind,
           d.api,
           p.id,
           p.page_no,
           p.error_code,
           p.error,
           NULL,
           p.updated_at
    FROM pages p
    JOIN documents d ON d.id = p.document_id
    JOIN batches b ON b.id = p.batch_id
    WHERE p.state = 'failed'
    """,
    {
        "batch_id": "The batch (batches.id).",
        "batch": "The batch's name.",
        "level": "document (the whole file) or page (one page of it).",
        "state": "failed, or skipped (a document already sent: duplicate_of).",
        "document_id": "The document (documents.id).",
        "rel_path": "The document's path relative to the batch directory.",
        "document_kind": "pdf, image, image_set, or rejected (never taken from the directory).",
        "api": "Provider API its pages go to.",
        "page_id": "The page (pages.id); NULL for a document.",
        "page_no": "1-based page number; NULL for a document.",
        "error_code": "Stable code: scangrade's slug (empty_file, pdf_corrupt, duplicate…) "
        "or the provider's error code (216201…).",
        "error": "Why, for a person.",
        "duplicate_of": "A skipped document's earlier copy (documents.id).",
        "at": "When the row last changed state: about when it failed.",
    },
)

VIEWS = [PAGE_OWNERS, SLOT_RESULTS, QUESTION_STATS, STUDENT_TOTALS, BATCH_PROGRESS, FAILURES]


def _quoted(comment: str) -> str:
    return "'" + comment.replace("'", "''") + "'"


def upgrade() -> None:
    for view in VIEWS:
        op.execute(f"CREATE VIEW {view.name} AS {view.sql}")
        op.execute(f"COMMENT ON VIEW {view.name} IS {_quoted(view.comment)}")
        for column, comment in view.columns.items():
            op.execute(f"COMMENT ON COLUMN {view.name}.{column} IS {_quoted(comment)}")
        op.execute(f"GRANT SELECT ON {view.name} TO {ROLE}")


def downgrade() -> None:
    for view in reversed(VIEWS):
        op.execute(f"DROP VIEW {view.name}")
