"""Sample scans made on the fly: the demo's bundled batch and the tests' inputs.

Everything is generated, never downloaded: the same seed always gives the same bytes, and each
seed gives a visibly different page so the OCR simulator has something to tell apart.
"""

from __future__ import annotations

import io
import random
import zlib
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from pypdf import PdfReader, PdfWriter

A4_150DPI = (1240, 1754)


def make_page_image(
    seed: int,
    width: int = A4_150DPI[0],
    height: int = A4_150DPI[1],
    text: str = "Grade 7 Mathematics - Homework",
) -> Image.Image:
    """A white A4-ish page with a title, numbered questions and handwriting-like strokes."""
    rng = random.Random(seed)
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    unit = max(8, width // 40)
    title_font = ImageFont.load_default(size=unit)
    font = ImageFont.load_default(size=max(8, unit * 2 // 3))
    margin = width // 12
    draw.text((margin, unit), f"{text}  #{seed}", fill="black", font=title_font)
    y = unit * 3
    question = 1
    while y < height - unit * 4:
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        draw.text((margin, y), f"{question}. {a} + {b} = ", fill="black", font=font)
        _scribble(draw, rng, (margin + unit * 8, y), unit, ink=(20, 40, 160))
        y += unit * 2 + rng.randint(0, unit)
        question += 1
    return img


def _scribble(
    draw: ImageDraw.ImageDraw,
    rng: random.Random,
    origin: tuple[int, int],
    unit: int,
    ink: tuple[int, int, int],
) -> None:
    """A few jittery pen strokes, different for every call."""
    x, y = origin
    for _ in range(rng.randint(2, 5)):
        points = [(x, y + unit // 2)]
        for _ in range(rng.randint(4, 9)):
            x += rng.randint(unit // 4, unit // 2)
            points.append((x, y + rng.randint(0, unit)))
        draw.line(points, fill=ink, width=max(2, unit // 8), joint="curve")
        x += unit // 2


def jpeg_bytes(img: Image.Image, quality: int = 85) -> bytes:
    """The image as a baseline JPEG."""
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png_bytes(img: Image.Image) -> bytes:
    """The image as PNG."""
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _pdf(pages: list[tuple[bytes, bytes, dict[bytes, bytes]]]) -> bytes:
    """A minimal PDF: per page (page dict entries, content stream, named extra objects).

    Extra objects become indirect objects, referenced as ``@name@`` from the page dict or from
    a later extra object of the same page.
    """
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    kids = []
    for page_dict, content, extras in pages:
        refs: dict[bytes, bytes] = {}
        for name, body in extras.items():
            objects.append(_substitute(body, refs))
            refs[name] = f"{len(objects)} 0 R".encode()
        objects.append(_stream(b"", zlib.compress(content), b"/Filter /FlateDecode"))
        content_ref = len(objects)
        page_dict = _substitute(page_dict, refs)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R "
            + page_dict
            + f" /Contents {content_ref} 0 R >>".encode()
        )
        kids.append(f"{len(objects)} 0 R".encode())
    objects[1] = b"<< /Type /Pages /Kids [" + b" ".join(kids) + f"] /Count {len(kids)} >>".encode()
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def _substitute(body: bytes, refs: dict[bytes, bytes]) -> bytes:
    for name, ref in refs.items():
        body = body.replace(b"@" + name + b"@", ref)
    return body


def _stream(entries: bytes, data: bytes, filters: bytes) -> bytes:
    head = b"<< " + entries + b" " + filters + f" /Length {len(data)} >>\nstream\n".encode()
    return head + data + b"\nendstream"


def pdf_from_jpegs(
    jpegs: list[bytes],
    *,
    dpi: int = 150,
    rotate: int = 0,
    extra_content: bytes = b"",
    placement: tuple[float, float, float, float] | None = None,
) -> bytes:
    """A scanner-style PDF: each JPEG embedded unchanged (DCTDecode) over a whole page.

    ``extra_content`` is appended to every page's content stream (font /F1 is Helvetica), and
    ``placement`` (x, y, width, height in points) draws the image elsewhere than full page:
    both make pages that are no longer plain scans.
    """
    pages = []
    for jpeg in jpegs:
        with Image.open(io.BytesIO(jpeg)) as img:
            width, height, mode = img.width, img.height, img.mode
        space = b"/DeviceGray" if mode == "L" else b"/DeviceRGB"
        xobject = _stream(
            f"/Type /XObject /Subtype /Image /Width {width} /Height {height} ".encode()
            + b"/ColorSpace "
            + space
            + b" /BitsPerComponent 8",
            jpeg,
            b"/Filter /DCTDecode",
        )
        w_pt, h_pt = width * 72 / dpi, height * 72 / dpi
        x, y, img_w, img_h = placement or (0, 0, w_pt, h_pt)
        page_dict = f"/MediaBox [0 0 {w_pt:.2f} {h_pt:.2f}] /Rotate {rotate} ".encode()
        # Indirect /Resources and /XObject, as many scanners write them.
        extras = {b"img": xobject, b"xobjects": b"<< /Im0 @img@ >>"}
        resources = b"<< /XObject @xobjects@"
        if extra_content:
            extras[b"font"] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
            resources += b" /Font << /F1 @font@ >>"
        extras[b"resources"] = resources + b" >>"
        page_dict += b"/Resources @resources@"
        content = f"q {img_w:.2f} 0 0 {img_h:.2f} {x:.2f} {y:.2f} cm /Im0 Do Q\n".encode()
        pages.append((page_dict, content + extra_content, extras))
    return _pdf(pages)


def make_scanned_pdf(seeds: list[int], quality: int = 60) -> bytes:
    """One full-page JPEG per seed, as a scanner would produce."""
    return pdf_from_jpegs([jpeg_bytes(make_page_image(seed), quality) for seed in seeds])


def make_vector_pdf(n_pages: int) -> bytes:
    """Text-only A4 pages in Helvetica: no images, so they must be rendered."""
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    pages = []
    for number in range(1, n_pages + 1):
        lines = [f"BT /F1 20 Tf 60 780 Td (Quiz, page {number}) Tj ET"]
        for question in range(1, 11):
            y = 740 - question * 60
            lines.append(f"BT /F1 12 Tf 60 {y} Td ({question}. {question} x {number} = ____) Tj ET")
        lines.append("0 0 0.6 RG 2 w 300 100 m 400 130 l 500 90 l S")
        page_dict = b"/MediaBox [0 0 595 842] /Resources << /Font << /F1 @font@ >> >>"
        pages.append((page_dict, "\n".join(lines).encode(), {b"font": font}))
    return _pdf(pages)


def make_encrypted_pdf(
    user_password: str,
    owner_password: str = "owner",
    *,
    source: bytes | None = None,
    algorithm: str | None = None,
) -> bytes:
    """``source`` (default: a two-page scanned PDF) encrypted by pypdf.

    ``algorithm`` is pypdf's name ("RC4-128", "AES-128", "AES-256"); None is pypdf's default.
    """
    plain = source if source is not None else make_scanned_pdf([11, 12])
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(plain)))
    writer.encrypt(user_password, owner_password, algorithm=algorithm)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def make_empty_pdf() -> bytes:
    """A well-formed PDF with zero pages."""
    buf = io.BytesIO()
    PdfWriter().write(buf)
    return buf.getvalue()


def make_multipage_tiff(seeds: list[int]) -> bytes:
    """One grayscale page per seed in a single TIFF, as office scanners save them."""
    frames = [make_page_image(seed).convert("L") for seed in seeds]
    buf = io.BytesIO()
    frames[0].save(buf, "TIFF", save_all=True, append_images=frames[1:], compression="tiff_lzw")
    return buf.getvalue()


def write_sample_batch(root: Path) -> dict[str, int]:
    """A small nightly directory of every document kind; returns rel_path -> page count.

    Laid out as schools do: ``<class>/<student>/<work>``, an image-set folder per student,
    and one loose file nobody can be matched to.
    """
    expected: dict[str, int] = {}
    for student, seeds in (("alice", [1, 2, 3]), ("bao", [4, 5]), ("chen", [6, 7])):
        folder = root / "7A" / student
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "homework.pdf").write_bytes(make_scanned_pdf(seeds))
        expected[f"7A/{student}/homework.pdf"] = len(seeds)
    (root / "7B" / "dana").mkdir(parents=True, exist_ok=True)
    (root / "7B" / "dana" / "quiz.pdf").write_bytes(make_vector_pdf(2))
    expected["7B/dana/quiz.pdf"] = 2
    worksheet = root / "7B" / "lee"
    worksheet.mkdir(parents=True, exist_ok=True)
    for name, seed in (("page1.jpg", 21), ("page2.jpg", 22), ("page10.jpg", 23)):
        (worksheet / name).write_bytes(jpeg_bytes(make_page_image(seed), quality=60))
    expected["7B/lee"] = 3
    (root / "extra.png").write_bytes(png_bytes(make_page_image(31).convert("L")))
    expected["extra.png"] = 1
    return expected


CUSTOM_MODEL_PATH = "rpc/2.0/ai_custom/v1/ocr/scangrade_demo"

MIXED_MANIFEST = f"""\
# One night's directory with every API: the deepest matching folder wins.
api = "correct_edu"

[[folders]]
path = "exams"
api = "paper_cut"

[[folders]]
path = "exams/answer-sheets"
api = "paper_cut"
scene = "answer_sheet"
enhance = true

[[folders]]
path = "exams/cut-only"
api = "paper_cut"
only_split = true

[[folders]]
path = "homework/cut-only"
api = "correct_edu"
only_split = true

[[folders]]
path = "essays"
api = "composition"
granularity = "word"

[[folders]]
path = "formulas"
api = "formula"

[[folders]]
path = "forms"
api = "custom_ocr"
endpoint_path = "{CUSTOM_MODEL_PATH}"
"""


def blank_page() -> bytes:
    """An empty sheet, like the back of a duplex scan: the essay API says it is no essay."""
    return jpeg_bytes(Image.new("L", (1240, 1754), 255))


def write_mixed_batch(root: Path) -> dict[str, tuple[str, int]]:
    """A night with homework, exams, answer sheets, essays, formulas and forms side by side.

    Returns document rel_path -> (API, pages); a folder holding only images is one document.
    ``essays/blank.jpg`` is not an essay: its page must end failed with the provider's 216100.
    """
    expected: dict[str, tuple[str, int]] = {}

    def put(rel: str, data: bytes) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    root.mkdir(parents=True, exist_ok=True)
    (root / "scangrade.toml").write_text(MIXED_MANIFEST, encoding="utf-8")
    put("homework/amy.pdf", make_scanned_pdf([41]))
    expected["homework/amy.pdf"] = ("correct_edu", 1)
    put("exams/midterm-bo.pdf", make_scanned_pdf([42, 43]))
    expected["exams/midterm-bo.pdf"] = ("paper_cut", 2)
    put("exams/quiz-cy.pdf", make_vector_pdf(1))
    expected["exams/quiz-cy.pdf"] = ("paper_cut", 1)
    put("exams/answer-sheets/dee.jpg", jpeg_bytes(make_page_image(44)))
    expected["exams/answer-sheets"] = ("paper_cut", 1)
    put("exams/cut-only/hal.jpg", jpeg_bytes(make_page_image(49)))
    expected["exams/cut-only"] = ("paper_cut", 1)
    put("homework/cut-only/ivy.jpg", jpeg_bytes(make_page_image(50)))
    expected["homework/cut-only"] = ("correct_edu", 1)
    put("essays/eve/page1.jpg", jpeg_bytes(make_page_image(45)))
    put("essays/eve/page2.jpg", jpeg_bytes(make_page_image(48)))
    expected["essays/eve"] = ("composition", 2)
    put("essays/blank.jpg", blank_page())
    expected["essays/blank.jpg"] = ("composition", 1)
    put("formulas/fay.png", png_bytes(make_page_image(46)))
    expected["formulas"] = ("formula", 1)
    put("forms/gus.jpg", jpeg_bytes(make_page_image(47)))
    expected["forms"] = ("custom_ocr", 1)
    return expected
