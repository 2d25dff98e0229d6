"""``scangrade export``: a batch's results as files, for analysts and for the school.

``slots`` writes the ``v_slot_results`` view as CSV or Parquet, one row per answer slot.
``school`` writes what a school uses, all from one ``gradebook`` of the batch read through
the teachers' report: the wide sheet and the Canvas and Moodle gradebooks (``sheets``), and
each student's PDF with their marked pages, zipped per class (``handback``, ``marking``).
"""

from __future__ import annotations

from pipeline.operator.export.handback import HandedBack
from pipeline.operator.export.school import (
    HANDBACK,
    SHEET_FORMATS,
    SheetWritten,
    export_handback,
    export_sheet,
)
from pipeline.operator.export.slots import FORMATS, Exported, export_slots

__all__ = [
    "FORMATS",
    "HANDBACK",
    "SHEET_FORMATS",
    "Exported",
    "HandedBack",
    "SheetWritten",
    "export_handback",
    "export_sheet",
    "export_slots",
]
