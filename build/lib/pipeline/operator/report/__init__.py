"""Teachers' report of a batch: one self-contained HTML file (``scangrade report``).

``data`` reads Postgres into plain values, ``pictures`` shrinks the archived page images,
``charts`` draws inline SVG, ``render`` writes the file through the ``template``.
"""

from __future__ import annotations

from pipeline.operator.report.render import ReportSummary, write_report

__all__ = ["ReportSummary", "write_report"]
