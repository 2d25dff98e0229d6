"""Handback: the boxes drawn on a page, each student's PDF and the zip of a class.

No service: the page pictures are made here and handed to ``write_handback`` in place of the
object store. Colours are read back from the drawn picture and from the PDF as PDFium
renders it, at the boxes' positions.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image
from pypdf import PdfReader
from support.gradebooks import TEACHER, gradebook, page

from pipeline.domain.grades import Grade
from pipeline.operator.export.gradebook import Enrolled
from pipeline.operator.export.handback import file_name, summary, write_handback
from pipeline.operator.export.marking import marked_page
from pipeline.operator.report.data import Box, PageView
from pipeline.operator.report.pictures import NoPicture

CORRECT, WRONG, UNANSWERED, PARTIAL = Grade.CORRECT, Grade.WRONG, Grade.UNANSWERED, Grade.PARTIAL
LI = Enrolled(1, "3A", "s-001", "Li Lei")
LI_TOO = Enrolled(4, "3A", "s-004", "Li Lei")  # a classmate of the same name
HAN = Enrolled(2, "3A", "s-002", "Han Meimei")
ZHAO = Enrolled(3, "3B", "s-003", "Zhao Min")
NOBODY = Enrolled(5, "3B", "s-005", "Wang Fang")  # handed nothing in

# In the pixels of the page as sent (2000 x 2800); the picture drawn on is half that.
SENT = (2000, 2800)
BOXES = (
    Box(100, 100, 900, 500, CORRECT, "question", "Q1"),
    Box(200, 250, 800, 450, CORRECT, "slot", "Q1.1"),
    Box(1000, 100, 1900, 500, WRONG, "question", "Q2"),
    Box(1100, 250, 1800, 450, WRONG, "slot", "Q2.1"),
    Box(100, 700, 900, 1100, UNANSWERED, "question", "Q3"),
    Box(200, 850, 800, 1050, UNANSWERED, "slot", "Q3.1"),
    Box(1000, 700, 1900, 1100, 0, "question", "Q4"),
    # a teacher's: partial, and correct where the provider said wrong
    Box(100, 1300, 900, 1700, PARTIAL, "question", "Q5", overridden_by=TEACHER),
    Box(200, 1450, 800, 1650, PARTIAL, "slot", "Q5.1", overridden_by=TEACHER),
    Box(1000, 1300, 1900, 1700, CORRECT, "question", "Q6", WRONG, overridden_by=TEACHER),
    Box(1100, 1450, 1800, 1650, CORRECT, "slot", "Q6.1", WRONG, overridden_by=TEACHER),
)
QUESTIONS = [(CORRECT, [CORRECT]), (WRONG, [WRONG]), (UNANSWERED, [UNANSWERED]), (0, [0])]
QUESTIONS += [(PARTIAL, [PARTIAL]), (CORRECT, [CORRECT])]
CHANGED = (4, 5)  # Q5 and Q6: by a teacher


def _page(page_id: int, student: Enrolled) -> PageView:
    return page(
        page_id, student, "homework.pdf", QUESTIONS, boxes=BOXES, size=SENT, changed=CHANGED
    )


GREEN, RED, GREY = (0x1A, 0x96, 0x41), (0xD7, 0x19, 0x1C), (0x8C, 0x8C, 0x8C)  # the report's
AMBER = (0xE6, 0x9F, 0x00)  # partial, or set by a teacher
COLOURS = {CORRECT: GREEN, WRONG: RED, UNANSWERED: GREY, PARTIAL: AMBER}
NOT_GRADED = GREY  # dashed
PAPER = (250, 248, 236)  # the scan's background: the picture can be found on a PDF page


def _paper(_: PageView) -> Image.Image:
    return Image.new("RGB", (SENT[0] // 2, SENT[1] // 2), PAPER)


def _near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


def _tinted(pixel: tuple[int, ...], colour: tuple[int, int, int]) -> bool:
    """Paper under a light wash of ``colour``: darker than paper, and of its hue."""
    shift = [PAPER[i] - pixel[i] for i in range(3)]  # how much each channel was taken away
    wanted = [255 - colour[i] for i in range(3)]  # what the colour takes away from white
    order = sorted(range(3), key=lambda i: wanted[i])
    return min(shift) > -8 and max(shift) > 20 and shift[order[0]] <= shift[order[2]] + 8


def _check_boxes(picture: Image.Image, scale: float, inset: int = 2) -> None:
    """Each box's edges in its colour, answer slots tinted with theirs, not graded dashed.

    ``scale`` maps the page as sent onto ``picture``; edges are looked at ``inset`` pixels
    (of the page as sent) inside the box, half-way along.
    """
    rgb = picture.convert("RGB")

    def at(x: float, y: float) -> tuple[int, ...]:
        return tuple(rgb.getpixel((round(x * scale), round(y * scale))))  # type: ignore[arg-type]

    for box in BOXES:
        colour = AMBER if box.overridden_by else COLOURS.get(box.result, NOT_GRADED)
        middle = ((box.left + box.right) / 2, (box.top + box.bottom) / 2)
        if box.kind == "question" and box.result:
            assert _near(at(middle[0], box.top + inset), colour), box
            assert _near(at(box.left + inset, middle[1]), colour), box
        if box.kind == "slot":
            assert _tinted(at(*middle), colour), (box, at(*middle))
    # dashed: along the top edge of Q4, not graded, some pixels are grey and some paper
    edge = [at(x, 700 + inset) for x in range(1000, 1900, 10)]
    assert any(_near(p, NOT_GRADED) for p in edge) and any(_near(p, PAPER, 12) for p in edge)


def test_boxes_are_drawn_in_their_grade_colour_where_the_provider_put_them() -> None:
    marked = marked_page(_paper(_page(1, LI)), _page(1, LI))
    assert marked.size == (1000, 1400)
    _check_boxes(marked, 0.5)


def test_a_large_picture_is_shrunk_and_its_boxes_with_it() -> None:
    big = Image.new("RGB", SENT, PAPER)
    marked = marked_page(big, _page(1, LI), max_width=800)
    assert marked.size == (800, 1120)
    _check_boxes(marked, 0.4)


def _handback(tmp_path: Path) -> Path:
    book = gradebook(
        [_page(1, LI), _page(2, LI_TOO), _page(3, HAN), _page(4, ZHAO)], [HAN, LI, LI_TOO, ZHAO]
    )
    book.students.append(gradebook([], [NOBODY]).students[0])
    done = write_handback(book, tmp_path / "out", _paper)
    assert (done.pdfs, done.without_work, done.missing_pictures) == (4, 1, 0)
    return done.directory


def test_a_zip_per_class_holds_a_pdf_per_student(tmp_path: Path) -> None:
    out = _handback(tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["3A", "3A.zip", "3B", "3B.zip"]
    with zipfile.ZipFile(out / "3A.zip") as archive:
        assert sorted(archive.namelist()) == [
            "Han Meimei.pdf",
            "Li Lei (s-001).pdf",
            "Li Lei (s-004).pdf",
        ]
        assert archive.read("Han Meimei.pdf") == (out / "3A" / "Han Meimei.pdf").read_bytes()
    with zipfile.ZipFile(out / "3B.zip") as archive:
        assert archive.namelist() == ["Zhao Min.pdf"]  # Wang Fang handed nothing in
    assert sorted(p.name for p in (out / "3A").iterdir()) == sorted(
        ["Han Meimei.pdf", "Li Lei (s-001).pdf", "Li Lei (s-004).pdf"]
    )


def test_the_pdf_opens_on_the_summary_then_shows_the_marked_pages(tmp_path: Path) -> None:
    pdf = (_handback(tmp_path) / "3B" / "Zhao Min.pdf").read_bytes()
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 2
    summary = " ".join(reader.pages[0].extract_text().split())
    assert "Zhao Min" in summary and "Class 3B" in summary
    changed = "2 correct, 1 partial of 5 graded {}; 2 set by a teacher"
    assert f"Correct rate per question: 50 % ({changed.format('questions')})" in summary
    assert f"Correct rate per slot: 50 % ({changed.format('slots')})" in summary
    assert "p1 Q1 correct 1 of 1" in summary
    assert "p1 Q4 not graded –" in summary
    assert f"p1 Q5 partial (changed by {TEACHER}) 0.5 of 1" in summary
    rendered = pdfium.PdfDocument(pdf)[1].render(scale=3).to_pil().convert("RGB")
    _check_boxes(*_picture_of(rendered), inset=3)


def _picture_of(rendered: Image.Image) -> tuple[Image.Image, float]:
    """The picture's area of a rendered page, and its scale from the page as sent."""
    mask = Image.eval(rendered.convert("L"), lambda v: 255 if v < 252 else 0)  # not white
    paper = rendered.crop(mask.getbbox())
    # the caption is above the picture: the picture is the part below the last white row
    rows = [
        y
        for y in range(paper.height)
        if all(paper.getpixel((x, y)) == (255, 255, 255) for x in range(0, paper.width, 7))
    ]
    picture = paper.crop((0, rows[-1] + 1, paper.width, paper.height))
    assert abs(picture.width / picture.height - SENT[0] / SENT[1]) < 0.01, picture.size
    return picture, picture.width / SENT[0]


def test_a_page_without_picture_says_why(tmp_path: Path) -> None:
    book = gradebook([_page(1, LI)], [LI])
    done = write_handback(book, tmp_path, lambda _: NoPicture("the archived page image is missing"))
    assert done.missing_pictures == 1
    text = PdfReader(tmp_path / "3A" / "Li Lei.pdf").pages[1].extract_text()
    assert "No picture: the archived page image is missing." in text


@pytest.mark.parametrize(
    ("name", "safe"),
    [("3A", "3A"), ("a/b", "a_b"), ('x:y*?"<>|', "x_y______"), ("..", "_"), ("李雷", "李雷")],
)
def test_file_names_are_safe_everywhere(name: str, safe: str) -> None:
    assert file_name(name) == safe


def test_the_summary_names_each_assignment_and_what_was_not_handed_in() -> None:
    book = gradebook(
        [
            page(1, LI, "homework.pdf", [(CORRECT, [CORRECT, WRONG]), (WRONG, [WRONG])]),
            page(2, HAN, "quiz.pdf", [(CORRECT, [CORRECT])]),
        ],
        [LI, HAN],
    )
    li = next(grades for grades in book.students if grades.student == LI)
    first = summary(book, li)
    assert first.title == "Li Lei"
    assert first.lines[1:3] == [
        "Correct rate per question: 50 % (1 correct of 2 graded questions)",
        "Correct rate per slot: 33 % (1 correct of 3 graded slots)",
    ]
    works, questions = first.grids
    rates = ["50 % (1 correct of 2 graded questions)", "33 % (1 correct of 3 graded slots)"]
    assert [[cell.text for cell in row] for row in works.rows] == [
        ["homework.pdf", "1 of 3", *rates],
        ["quiz.pdf", "not handed in", "–", "–"],
    ]
    assert [[cell.text for cell in row] for row in questions.rows] == [
        ["homework.pdf p1 Q1", "correct", "1 of 2"],
        ["homework.pdf p1 Q2", "wrong", "0 of 1"],
    ]
    assert questions.rows[0][1].fill != questions.rows[1][1].fill
