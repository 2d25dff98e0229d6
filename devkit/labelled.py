"""Labelled scans made on the fly: the label tests' corpus and the bench's code search.

A class's labels are printed by the product's own layout (``scangrade labels``), rendered at
the scan's resolution (so a code is the 12 mm it is printed at), and pasted onto the sample
pages of ``devkit.samples``: a header strip across the top, or a sticker near the top right
corner. The sheet is then scanned badly: turned a quarter, half or three quarters, a further
1–3° of skew, salt-and-pepper noise, JPEG quality 40. Same seed, same bytes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pypdfium2 as pdfium
from PIL import Image

from devkit.samples import jpeg_bytes, make_page_image, pdf_from_jpegs
from pipeline.adapters.documents.label_sheet import L7160, Layout, Sticker, label_pdf
from pipeline.domain.labels import Label, PrintedLabel, roster_labels
from pipeline.domain.students import Person

A4_MM = (210.0, 297.0)
TURNS = (0, 90, 180, 270)
"""Clockwise quarter turns a sheet is scanned at (and so the turn that makes it upright)."""
HEADER_STRIP_MM = 30.0


@dataclass(frozen=True)
class LabelledScan:
    """One scanned page: its JPEG, the label on it, the clockwise turn that makes it upright."""

    jpeg: bytes
    label: Label
    turn: int


@dataclass(frozen=True)
class Damage:
    """How badly a sheet is scanned."""

    dpi: int = 200
    quality: int = 40
    salt: float = 0.002  # share of pixels set to black or white at random
    skew: tuple[float, float] = (1.0, 3.0)  # degrees, either way


def class_roster(class_name: str, students: int) -> list[Person]:
    """A roster of ``students`` with ids S001… and made-up names."""
    return [Person(class_name, f"S{n:03d}", f"Student {n}") for n in range(1, students + 1)]


def printed(people: Sequence[Person], assignment: str, pages: int) -> list[PrintedLabel]:
    """The labels ``scangrade labels`` prints for the roster."""
    return roster_labels(people, assignment, pages)


def label_images(labels: Sequence[PrintedLabel], layout: Layout, dpi: int) -> list[Image.Image]:
    """Each label as printed, cut out of its rendered PDF at ``dpi``: a strip or a sticker."""
    stickers = [Sticker(item.code, item.lines()) for item in labels]
    document = pdfium.PdfDocument(label_pdf(stickers, layout))
    try:
        pages = [_render(page, dpi, strip=layout == "header") for page in document]
    finally:
        document.close()
    if layout == "header":
        return pages
    return [_sticker(pages, index, dpi) for index in range(len(labels))]


def _render(page: pdfium.PdfPage, dpi: int, *, strip: bool) -> Image.Image:
    """The page at ``dpi``; of a header page, its strip alone (a tenth of the pixels)."""
    if strip:
        width, height = page.get_size()
        page.set_cropbox(0, height - HEADER_STRIP_MM / 25.4 * 72, width, height)
    image: Image.Image = page.render(scale=dpi / 72).to_pil().convert("L")
    return image


def _sticker(sheets: list[Image.Image], index: int, dpi: int) -> Image.Image:
    sheet = sheets[index // L7160.per_sheet]
    row, column = divmod(index % L7160.per_sheet, L7160.columns)
    left = _px(L7160.left + column * L7160.column_pitch, dpi)
    top = _px(L7160.top + row * L7160.row_pitch, dpi)
    return sheet.crop((left, top, left + _px(L7160.width, dpi), top + _px(L7160.height, dpi)))


def _px(millimetres: float, dpi: int) -> int:
    return round(millimetres / 25.4 * dpi)


def scan(label: Image.Image, seed: int, turn: int, damage: Damage, *, header: bool) -> bytes:
    """A sample page bearing ``label``, scanned ``turn`` degrees clockwise off and damaged."""
    rng = random.Random(seed)
    width, height = _px(A4_MM[0], damage.dpi), _px(A4_MM[1], damage.dpi)
    page = make_page_image(seed, width, height).convert("L")
    if header:
        page.paste(label, (0, 0))
    else:  # stuck somewhere near the top right corner, slightly askew
        sticker = label.rotate(rng.uniform(-4, 4), expand=True, fillcolor=255)
        x = rng.randint(width // 2, width - sticker.width - _px(3, damage.dpi))
        page.paste(sticker, (x, rng.randint(_px(3, damage.dpi), height // 8)))
    skew = rng.uniform(*damage.skew) * rng.choice((-1, 1))
    # PIL turns counter-clockwise: a sheet lying `turn` clockwise off is turned back by it.
    page = page.rotate(turn + skew, expand=True, fillcolor=255, resample=Image.Resampling.BILINEAR)
    _salt(page, rng, damage.salt)
    return jpeg_bytes(page, quality=damage.quality)


def _salt(page: Image.Image, rng: random.Random, share: float) -> None:
    pixels = page.load()
    assert pixels is not None
    width, height = page.size
    for _ in range(round(width * height * share)):
        pixels[rng.randrange(width), rng.randrange(height)] = rng.choice((0, 255))


def corpus(
    students: int, pages: int, *, damage: Damage = Damage(), seed: int = 0, assignment: str = "hw-7"
) -> Iterator[LabelledScan]:
    """Every page of a class's assignment, labelled, turned and damaged, in roster order.

    Half the students have header strips, half stickers; each page's turn is drawn at random.
    """
    rng = random.Random(seed)
    labels = printed(class_roster("7A", students), assignment, pages)
    half = len(labels) // 2 // pages * pages
    images = [
        *label_images(labels[:half], "header", damage.dpi),
        *label_images(labels[half:], "stickers", damage.dpi),
    ]
    for index, (item, image) in enumerate(zip(labels, images, strict=True)):
        turn = rng.choice(TURNS)
        jpeg = scan(image, seed * 10_000 + index, turn, damage, header=index < half)
        yield LabelledScan(jpeg, item.label, turn)


def shuffled_class_pdf(
    scans: Sequence[LabelledScan], seed: int, dpi: int = 200
) -> tuple[bytes, list[LabelledScan]]:
    """The scans shuffled, and one scanner-style PDF of them (their JPEGs embedded as is)."""
    order = list(scans)
    random.Random(seed).shuffle(order)
    return pdf_from_jpegs([item.jpeg for item in order], dpi=dpi), order
