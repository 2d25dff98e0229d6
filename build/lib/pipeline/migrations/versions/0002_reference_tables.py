"""Reference tables that turn the provider's codes into words for analysts.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CORRECT_RESULTS = [(0, "not graded"), (1, "correct"), (2, "wrong"), (3, "unanswered")]

# correct_edu's documented question types (seed 000, imageResults[].result[].type).
QUESTION_TYPES = [
    (0, "default"),
    (1, "mental arithmetic"),
    (2, "multiple choice"),
    (3, "true or false"),
    (4, "fill in the blank"),
    (5, "word problem"),
    (6, "matching"),
    (7, "drawing"),
    (8, "stem"),
    (9, "other"),
    (10, "material"),
    (11, "circle the answer"),
    (17, "calculation"),
    (18, "proof"),
    (19, "free response"),
    (401, "description"),
    (402, "ordering"),
    (801, "chart"),
    (902, "fill in the blank with working"),
]


def _lookup(name: str, comment: str, rows: list[tuple[int, str]]) -> None:
    table = op.create_table(
        name,
        sa.Column("code", sa.Integer(), primary_key=True, comment="The provider's code."),
        sa.Column("meaning", sa.Text(), nullable=False, comment="What the code means."),
        comment=comment,
    )
    op.bulk_insert(table, [{"code": code, "meaning": meaning} for code, meaning in rows])


def upgrade() -> None:
    _lookup("correct_results", "Meaning of questions/slots.correct_result.", CORRECT_RESULTS)
    _lookup("question_types", "Meaning of questions.type (correct_edu).", QUESTION_TYPES)


def downgrade() -> None:
    op.drop_table("question_types")
    op.drop_table("correct_results")
