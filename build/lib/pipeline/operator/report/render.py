"""Write a batch's report: one HTML file that needs nothing else to open.

Pictures are fetched from S3 and shrunk while their page is being written, one at a time, so
a 300-page batch never holds more than one scan in memory. The file is written beside its
destination and renamed, so a report that fails half-way leaves no half file behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, StrictUndefined, Template
from markupsafe import Markup

from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import ObjectStore
from pipeline.domain.grades import RULE
from pipeline.operator.report.charts import bar_chart, page_overlay, percent
from pipeline.operator.report.data import PageView, ReportData, load_report
from pipeline.operator.report.pictures import NoPicture, Picture, page_picture
from pipeline.operator.report.template import TEMPLATE


@dataclass
class ReportSummary:
    """What was written, for the operator."""

    path: Path
    pages: int
    pictures: int
    size: int


def write_report(batch_id: int, path: Path, store: ObjectStore) -> ReportSummary:
    """Write the report of a batch to ``path``."""
    with session_scope() as session:
        data = load_report(session, batch_id)
    summary = ReportSummary(path=path, pages=len(data.pages), pictures=0, size=0)

    def picture(page: PageView) -> Picture | NoPicture:
        if page.image_key is None:
            return NoPicture("the page was never stored as an image")
        found = page_picture(store, page.image_key, page.content_type)
        if isinstance(found, Picture):
            summary.pictures += 1
        return found

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding="utf-8") as out:
            for chunk in _template().generate(**_context(data, picture)):
                out.write(chunk)
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    summary.size = path.stat().st_size
    return summary


def _context(data: ReportData, picture: object) -> dict[str, object]:
    return {
        "data": data,
        "picture": picture,
        "overlay": _overlay,
        "percent": percent,
        "rule": RULE,
        "class_chart": bar_chart(data.classes, "Correct rates per class"),
        "question_chart": bar_chart(data.questions, "Correct rates per question position"),
        "written": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M"),
    }


def _overlay(page: PageView, picture: Picture) -> Markup:
    # Boxes are in the pixels of the page as sent, which is the archived image's own size.
    return page_overlay(page.boxes, picture.source_width, picture.source_height)


@lru_cache(maxsize=1)
def _template() -> Template:
    env = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
    return env.from_string(TEMPLATE)
