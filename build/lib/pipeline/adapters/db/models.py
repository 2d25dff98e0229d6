r"""The tables: typed SQLAlchemy 2 models, with the comments analysts read in ``\d+``.

The migrations in ``pipeline/migrations/versions`` are the source of the schema; these models
mirror them for the code. A test checks that the two agree.

Every model is importable from here; importing this module registers every table on
``Base.metadata`` (Alembic and ``result_tables()`` read it), in this order:

- ``work_tables``: batches, classes, students, documents, pages, provider_tasks;
- ``graded_tables``: correct_edu's questions and slots;
- ``upkeep_tables``: artifacts (S3) and repairs (the reconciler's counts);
- ``api_tables``: the other APIs' result tables;
- ``review_tables``: the teachers' accounts, their classes and their grade overrides.
"""

from __future__ import annotations

# The tables register on Base.metadata in import order (Alembic writes new migrations in
# it): keep the blocks in this order.
from pipeline.adapters.db.base import Base
from pipeline.adapters.db.work_tables import (
    Batch,
    Document,
    Page,
    ProviderTask,
    SchoolClass,
    Student,
)

# isort: split
from pipeline.adapters.db.graded_tables import Question, Slot

# isort: split
from pipeline.adapters.db.upkeep_tables import Artifact, Repair

# isort: split
from pipeline.adapters.db.api_tables import (
    Essay,
    EssayLine,
    EssayParagraph,
    EssaySentence,
    OcrWord,
    PaperAnswer,
    PaperQuestion,
)

# isort: split
from pipeline.adapters.db.review_tables import GradeOverride, User, UserClass

__all__ = [
    "Artifact",
    "Base",
    "Batch",
    "Document",
    "Essay",
    "EssayLine",
    "EssayParagraph",
    "EssaySentence",
    "GradeOverride",
    "OcrWord",
    "Page",
    "PaperAnswer",
    "PaperQuestion",
    "ProviderTask",
    "Question",
    "Repair",
    "SchoolClass",
    "Slot",
    "Student",
    "User",
    "UserClass",
]
