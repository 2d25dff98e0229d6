"""Handback: each student's graded work as one PDF, and each class's PDFs in one zip.

A student's PDF opens on a summary (name, class, their correct rates of questions and of
answer slots, each assignment's points and each question's grade) and goes on with their page
images, every question and answer box drawn in its grade's colour (``marking``). The output
directory gets ``<class>/<student>.pdf`` and ``<class>.zip`` holding the class's
``<student>.pdf``: the zip is what a teacher mails or uploads. Students of the roster without
work in the batch get no PDF (their gradebook cell is empty). Pages are fetched one student
at a time, so a large class never holds more than one student's scans in memory.
"""

from __future__ import annotations

import io
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Final

from PIL import Image

from pipeline.adapters.documents.pdf_writer import Cell, Grid, PicturePage, TextPage, write_pdf
from pipeline.domain.grades import RULE, Counted, Tally
from pipeline.operator.export.gradebook import Gradebook, StudentGrades, overridden
from pipeline.operator.export.marking import RGB, colour, marked_page
from pipeline.operator.export.slots import replaced_atomically
from pipeline.operator.report.charts import percent
from pipeline.operator.report.data import PageView
from pipeline.operator.report.graded import GradedQuestion
from pipeline.operator.report.pictures import NoPicture

Pictures = Callable[[PageView], Image.Image | NoPicture]

LEGEND: Final = (
    "On the pages: green correct, red wrong, grey unanswered, amber partial or changed by a "
    f"teacher; dashed boxes were not graded. Q2 is the page's second question. Rates: {RULE}."
)
_JPEG_QUALITY: Final = 85
_UNSAFE: Final = frozenset('/\\:*?"<>|')


@dataclass
class HandedBack:
    """What ``write_handback`` wrote."""

    directory: Path
    pdfs: int = 0
    zips: list[Path] = field(default_factory=list)
    without_work: int = 0
    missing_pictures: int = 0


def write_handback(book: Gradebook, out: Path, picture: Pictures) -> HandedBack:
    """Write every student's PDF and every class's zip into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    done = HandedBack(out)
    for class_name, students in _by_class(book).items():
        folder = out / file_name(class_name)
        folder.mkdir(exist_ok=True)
        written: list[Path] = []
        for grades, name in _file_names(students):
            if not grades.pages:
                done.without_work += 1
                continue
            path = folder / f"{name}.pdf"
            with replaced_atomically(path) as partial, partial.open("wb") as pdf:
                done.missing_pictures += _write_student(pdf, book, grades, picture)
            written.append(path)
        done.pdfs += len(written)
        if written:
            done.zips.append(_zip(out / f"{file_name(class_name)}.zip", written))
    return done


def file_name(text: str) -> str:
    """``text`` as a file's name on every system: no separators, no reserved characters."""
    safe = "".join("_" if ch in _UNSAFE or ord(ch) < 32 else ch for ch in text).strip(" .")
    return safe or "_"


def _by_class(book: Gradebook) -> dict[str, list[StudentGrades]]:
    classes: dict[str, list[StudentGrades]] = defaultdict(list)
    for grades in book.students:
        classes[grades.student.class_name].append(grades)
    return classes


def _file_names(students: list[StudentGrades]) -> Iterator[tuple[StudentGrades, str]]:
    """Each student's file name: their name, with their id when a classmate shares it."""
    names = [file_name(grades.student.name) for grades in students]
    for grades, name in zip(students, names, strict=True):
        shared = names.count(name) > 1
        yield grades, f"{name} ({file_name(grades.student.code)})" if shared else name


def _zip(path: Path, pdfs: list[Path]) -> Path:
    with (
        replaced_atomically(path) as partial,
        zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        for pdf in pdfs:
            archive.write(pdf, pdf.name)
    return path


def _write_student(
    out: io.BufferedWriter, book: Gradebook, grades: StudentGrades, picture: Pictures
) -> int:
    """The student's PDF; how many of their pages had no picture to show."""
    missing = 0

    def pages() -> Iterator[TextPage | PicturePage]:
        nonlocal missing
        yield summary(book, grades)
        for page in grades.pages:
            found = picture(page)
            if isinstance(found, NoPicture):
                missing += 1
                yield TextPage(_caption(page), [f"No picture: {found.reason}."])
            else:
                yield _picture_page(page, found)

    write_pdf(out, f"{grades.student.name}: {book.batch}", pages())
    return missing


def summary(book: Gradebook, grades: StudentGrades) -> TextPage:
    """The first page of a student's PDF: who, their rates, assignments and questions."""
    student = grades.student
    return TextPage(
        title=student.name,
        lines=[
            f"Class {student.class_name}, student id {student.code}, batch {book.batch}",
            _rate_line(grades.questions),
            _rate_line(grades.slots),
            LEGEND,
        ],
        grids=[_assignments(book, grades), _questions(book, grades)],
    )


def _assignments(book: Gradebook, grades: StudentGrades) -> Grid:
    rows = []
    for work in book.works:
        found = grades.works.get(work.key)
        if found is None:
            rows.append((Cell(work.name), Cell("not handed in"), Cell("–"), Cell("–")))
            continue
        rows.append(
            (
                Cell(work.name),
                Cell(_points(found.slots, work.possible)),
                Cell(_rate(found.questions)),
                Cell(_rate(found.slots)),
            )
        )
    header = ("Assignment", "Points", _label(Counted.QUESTIONS), _label(Counted.SLOTS))
    return Grid("Assignments", header, rows, (0.31, 0.15, 0.27, 0.27))


def _questions(book: Gradebook, grades: StudentGrades) -> Grid:
    rows = []
    for question in book.questions:
        for mark in grades.marks.get(question.position, []):
            slots = Tally(Counted.SLOTS)
            for slot in mark.slots:
                slots.add(slot.grade)
            rows.append(
                (
                    Cell(question.label),
                    Cell(_grade(mark), _tint(colour(mark.grade, overridden(mark))[0])),
                    Cell(_points(slots, slots.graded)),
                )
            )
    return Grid("Questions", ("Question", "Grade", "Points"), rows, (0.45, 0.35, 0.2))


def _grade(question: GradedQuestion) -> str:
    """The question's grade in words, and who changed it or one of its slots'."""
    teachers = sorted(
        {o.username for o in (question.override, *(s.override for s in question.slots)) if o}
    )
    return (
        f"{question.grade.word} (changed by {', '.join(teachers)})"
        if teachers
        else (question.grade.word)
    )


def _picture_page(page: PageView, picture: Image.Image) -> PicturePage:
    marked = marked_page(picture, page)
    buf = io.BytesIO()
    # No chroma subsampling: it would blur the thin coloured lines into the paper.
    marked.save(buf, "JPEG", quality=_JPEG_QUALITY, optimize=True, subsampling=0)
    return PicturePage(buf.getvalue(), marked.width, marked.height, _caption(page))


def _caption(page: PageView) -> str:
    work = page.graded[0].work if page.graded else ""
    return f"{work or PurePosixPath(page.rel_path).name}, page {page.page_no}"


def _points(slots: Tally, possible: int) -> str:
    """Points earned (a slot correct one, partial half) of those possible."""
    return f"{float(slots.earned):g} of {possible}" if slots.graded else "–"


def _rate_line(tally: Tally) -> str:
    return f"{_label(tally.counted)}: {_rate(tally)}"


def _rate(tally: Tally) -> str:
    partial = f", {tally.partial} partial" if tally.partial else ""
    changed = f"; {tally.overridden} set by a teacher" if tally.overridden else ""
    counted = "questions" if tally.counted == Counted.QUESTIONS else "slots"
    return (
        f"{percent(tally.rate)} ({tally.correct} correct{partial} of {tally.graded} graded "
        f"{counted}{changed})"
    )


def _label(counted: Counted) -> str:
    return Tally(counted).label.capitalize()


def _tint(rgb: RGB) -> RGB:
    """A grade's colour, lightened so that black text on it stays easy to read."""
    return (
        round(255 - (255 - rgb[0]) * 0.35),
        round(255 - (255 - rgb[1]) * 0.35),
        round(255 - (255 - rgb[2]) * 0.35),
    )
