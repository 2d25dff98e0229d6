"""Synthetic scans for the blank-page tests: duplex backs, pages with ink, sparse pages.

Every page is A4 at 150 dpi (1240x1754 px) unless its name says otherwise, built here from a
seed so the same bytes come back on every run.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from devkit.samples import (
    A4_150DPI,
    blank_page,
    jpeg_bytes,
    make_page_image,
    make_vector_pdf,
    pdf_from_jpegs,
    png_bytes,
)

JPEG, PNG, BMP, PDF = "image/jpeg", "image/png", "image/bmp", "application/pdf"
Page = tuple[bytes, str]


def noise(seed: int, mean: float, sigma: float, size: tuple[int, int] = A4_150DPI) -> Image.Image:
    """Gray noise, close to gaussian (the mean of four uniform layers), seeded."""
    rng = random.Random(seed)
    layers = [Image.frombytes("L", size, rng.randbytes(size[0] * size[1])) for _ in range(4)]
    low = ImageChops.add(layers[0], layers[1], scale=2.0)
    high = ImageChops.add(layers[2], layers[3], scale=2.0)
    # The mean of four uniform bytes has a standard deviation of about 36.9.
    return ImageChops.add(low, high, scale=2.0).point(
        lambda v: round(mean + (v - 127.5) * sigma / 36.9)
    )


def paper(seed: int, level: int = 240, sigma: float = 4) -> Image.Image:
    """A sheet of plain paper as a scanner sees it."""
    return noise(seed, level, sigma)


def with_noise(img: Image.Image, seed: int, sigma: float = 4) -> Image.Image:
    """``img`` plus zero-mean sensor noise."""
    return ImageChops.add(img, noise(seed, 128, sigma, img.size), offset=-128)


def bmp_bytes(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, "BMP")
    return out.getvalue()


def scribble(
    draw: ImageDraw.ImageDraw,
    rng: random.Random,
    origin: tuple[int, int],
    length: int,
    height: int,
    fill: int | tuple[int, int, int],
) -> None:
    """A few jittery handwriting strokes, 2 px wide, covering ``length`` px to the right."""
    x0, y0 = origin
    strokes = 3
    span = length // strokes
    for index in range(strokes):
        x = x0 + index * span
        points = [(x, y0 + rng.randint(0, height))]
        for _ in range(6):
            x += span // 7
            points.append((x, y0 + rng.randint(0, height)))
        draw.line(points, fill=fill, width=2, joint="curve")


# --- blank backs ---------------------------------------------------------------------------


def noisy_white_q60() -> Page:
    return jpeg_bytes(paper(1, level=238, sigma=10), quality=60), JPEG


def grey_paper() -> Page:
    return jpeg_bytes(paper(2, level=205)), JPEG


def yellowish_paper() -> Page:
    channels = (paper(3, 238), paper(4, 232), paper(5, 205))
    return jpeg_bytes(Image.merge("RGB", channels), quality=70), JPEG


def gradient_and_edge_shadow() -> Page:
    """Light falling off from 250 to 190 across the page, and a dark band along the bottom.

    The band is 6 % of the height (twice the ignored margin) and reaches 60 at the edge.
    """
    width, height = A4_150DPI
    across = Image.new("L", (width, 1))
    across.putdata([round(250 - 60 * x / (width - 1)) for x in range(width)])
    band = round(height * 0.06)
    down = Image.new("L", (1, height))
    down.putdata(
        [255 - round(195 * max(0.0, 1 - (height - 1 - y) / band) ** 2) for y in range(height)]
    )
    lit = ImageChops.multiply(across.resize((width, height)), down.resize((width, height)))
    return jpeg_bytes(with_noise(lit, 6)), JPEG


def dust(seed: int) -> Page:
    """30 dark specks of 1 to 3 px anywhere on the sheet."""
    img = paper(100 + seed)
    draw = ImageDraw.Draw(img)
    rng = random.Random(seed)
    for _ in range(30):
        x, y = rng.randrange(A4_150DPI[0] - 3), rng.randrange(A4_150DPI[1] - 3)
        side = rng.randint(1, 3)
        draw.rectangle((x, y, x + side - 1, y + side - 1), fill=rng.randint(10, 90))
    return jpeg_bytes(img), JPEG


def dust_in_pairs() -> Page:
    """40 pairs of 3 px specks 1 mm apart: a cluster of dust is still dust."""
    img = paper(31)
    draw = ImageDraw.Draw(img)
    rng = random.Random(31)
    for _ in range(40):
        x, y = rng.randrange(60, 1170), rng.randrange(60, 1680)
        draw.rectangle((x, y, x + 2, y + 2), fill=30)
        dy = rng.randint(-3, 3)
        draw.rectangle((x + 9, y + dy, x + 11, y + dy + 2), fill=30)
    return jpeg_bytes(img), JPEG


def bleed_through() -> Page:
    """The other side's page, mirrored, blurred and faint: text at 215 on paper at 240."""
    other = make_page_image(7).convert("L").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    faint = other.point(lambda v: round(215 + v * 25 / 255)).filter(ImageFilter.GaussianBlur(1))
    return jpeg_bytes(with_noise(faint, 8), quality=70), JPEG


def blank_png() -> Page:
    return png_bytes(paper(9, level=235)), PNG


def blank_bmp_rgb() -> Page:
    return bmp_bytes(Image.merge("RGB", (paper(10), paper(11), paper(12, 230)))), BMP


def blank_300dpi() -> Page:
    big = paper(13, sigma=6).resize((2480, 3508), Image.Resampling.BILINEAR)
    return jpeg_bytes(with_noise(big, 14), quality=70), JPEG


def blank_scanned_pdf() -> Page:
    return pdf_from_jpegs([jpeg_bytes(paper(15, sigma=6), quality=60)]), PDF


def pure_white() -> Page:
    return blank_page(), JPEG


BLANK: dict[str, Callable[[], Page]] = {
    "pure white": pure_white,
    "noise sigma 10, JPEG q60": noisy_white_q60,
    "grey paper (205)": grey_paper,
    "yellowish paper": yellowish_paper,
    "gradient + edge shadow": gradient_and_edge_shadow,
    **{f"dust, 30 specks (seed {seed})": (lambda s=seed: dust(s)) for seed in range(1, 6)},
    "dust, 40 close pairs": dust_in_pairs,
    "bleed-through 215 on 240": bleed_through,
    "noisy paper as PNG": blank_png,
    "tinted paper as BMP": blank_bmp_rgb,
    "noisy paper at 300 dpi": blank_300dpi,
    "scanned PDF of a blank page": blank_scanned_pdf,
}

# --- pages with something on them --------------------------------------------------------


def pencil_word_image(seed: int = 21) -> Image.Image:
    """One short word in light pencil (150): 3.4 cm long, 2 px strokes, mid-page."""
    img = paper(seed)
    scribble(ImageDraw.Draw(img), random.Random(seed), (500, 800), 200, 30, 150)
    return img


def sample_page() -> Page:
    return jpeg_bytes(make_page_image(5)), JPEG


def pencil_word() -> Page:
    return jpeg_bytes(pencil_word_image(), quality=70), JPEG


def pencil_word_on_shadowed_paper() -> Page:
    """The pencil word over the gradient and edge shadow of a blank back."""
    shadowed = Image.open(io.BytesIO(gradient_and_edge_shadow()[0]))
    img = ImageChops.darker(shadowed.convert("L"), pencil_word_image(22))
    return jpeg_bytes(img, quality=70), JPEG


def pencil_word_300dpi() -> Page:
    big = pencil_word_image(23).resize((2480, 3508), Image.Resampling.BICUBIC)
    return jpeg_bytes(big, quality=70), JPEG


def pencil_word_in_scanned_pdf() -> Page:
    return pdf_from_jpegs([jpeg_bytes(pencil_word_image(24), quality=60)]), PDF


def pencil_word_16_bit_png() -> Page:
    """A 16-bit gray PNG, as some scanners save: its white is 65535, its pencil 38550."""
    wide = pencil_word_image(32).convert("I").point(lambda v: v * 257).convert("I;16")
    return png_bytes(wide), PNG


def one_printed_line() -> Page:
    img = paper(25)
    font = ImageFont.load_default(size=25)  # 12 pt at 150 dpi
    ImageDraw.Draw(img).text((150, 400), "3. Solve for x: 3x + 5 = 20", fill=0, font=font)
    return jpeg_bytes(img), JPEG


def name_in_corner() -> Page:
    """Only the student's name, in blue pen, at the top right."""
    img = Image.merge("RGB", (paper(26), paper(27), paper(28)))
    font = ImageFont.load_default(size=25)
    ImageDraw.Draw(img).text((1080, 70), "Li Wei", fill=(20, 40, 160), font=font)
    return jpeg_bytes(img), JPEG


def solid_box() -> Page:
    """A single large filled shape (a shaded answer box): no thin strokes at all."""
    img = paper(29)
    ImageDraw.Draw(img).rectangle((400, 600, 800, 900), fill=40)
    return jpeg_bytes(img), JPEG


def vector_pdf() -> Page:
    return make_vector_pdf(1), PDF


INKED: dict[str, Callable[[], Page]] = {
    "sample page": sample_page,
    "pencil word (150), 3.4 cm": pencil_word,
    "pencil word on shadowed paper": pencil_word_on_shadowed_paper,
    "pencil word at 300 dpi": pencil_word_300dpi,
    "pencil word in a scanned PDF": pencil_word_in_scanned_pdf,
    "pencil word, 16-bit PNG": pencil_word_16_bit_png,
    "one printed line": one_printed_line,
    "name in the top corner": name_in_corner,
    "one solid box": solid_box,
    "vector PDF": vector_pdf,
}


# --- sparse pages: a little work, small enough to weigh under the threshold ---------------

ISSUE_PAGE = (1000, 1400)
A4_300DPI = (2480, 3508)


def printed(text: str, height: int, size: tuple[int, int], fill: int = 0) -> Image.Image:
    """``text`` printed ``height`` px tall on paper: drawn at 3x, then averaged down, so its
    strokes are as thin and antialiased as a laser print scanned at that size."""
    k = 3
    font = ImageFont.load_default(size=height * k)
    for points in range(height * k, 80 * k):
        font = ImageFont.load_default(size=points)
        left, top, right, bottom = font.getbbox(text)
        if bottom - top >= height * k:
            break
    big = Image.new("L", (right - left + 4 * k, bottom - top + 4 * k), 255)
    ImageDraw.Draw(big).text((2 * k - left, 2 * k - top), text, fill=fill, font=font)
    small = big.resize((big.width // k, big.height // k), Image.Resampling.BOX)
    img = noise(50 + height, 240, 4, size)
    at = (size[0] // 7, size[1] // 3)
    box = (*at, at[0] + small.width, at[1] + small.height)
    img.paste(ImageChops.darker(img.crop(box), small), at)
    return img


# "x = 5" and a signature as pen strokes, in px at 150 dpi (letters 2 mm tall at scale 1).
X_EQ_5 = [
    [(0, 0), (8, 12)],
    [(8, 0), (0, 12)],
    [(16, 4), (24, 4)],
    [(16, 8), (24, 8)],
    [(40, 0), (32, 0), (31, 5), (36, 4), (40, 7), (38, 11), (32, 12)],
]
SIGNATURE = [
    [(0, 20), (6, 2), (10, 22), (16, 6), (22, 18), (30, 4), (34, 20), (44, 10), (60, 14), (95, 12)]
]


def handwritten(
    strokes: list[list[tuple[int, int]]],
    size: tuple[int, int],
    scale: int,
    width: int,
    fill: int | tuple[int, int, int],
    seed: int,
) -> Image.Image:
    """Pen or pencil ``strokes``, ``width`` px wide, slightly shaky, on a sheet of ``size``."""
    img = paper(seed) if size == A4_150DPI else noise(seed, 240, 4, size)
    if isinstance(fill, tuple):
        img = Image.merge(
            "RGB", (img, noise(seed + 1, 238, 4, size), noise(seed + 2, 236, 4, size))
        )
    draw, rng = ImageDraw.Draw(img), random.Random(seed)
    x0, y0 = size[0] // 2, size[1] // 2
    for stroke in strokes:
        shaky = [
            (x0 + (x + rng.uniform(-0.4, 0.4)) * scale, y0 + (y + rng.uniform(-0.4, 0.4)) * scale)
            for x, y in stroke
        ]
        draw.line(shaky, fill=fill, width=width, joint="curve")
    return img


SPARSE: dict[str, Callable[[], Page]] = {
    "'1 + 1 = 2', 11 px, on 1000x1400": lambda: (
        jpeg_bytes(printed("1 + 1 = 2", 11, ISSUE_PAGE)),
        JPEG,
    ),
    "'1 + 1 = 2', 11 px, grey print": lambda: (
        jpeg_bytes(printed("1 + 1 = 2", 11, ISSUE_PAGE, fill=100)),
        JPEG,
    ),
    "'1 + 1 = 2', 9 px, A4 150 dpi": lambda: (jpeg_bytes(printed("1 + 1 = 2", 9, A4_150DPI)), JPEG),
    "formula 'y = 2x + 1', 10 px": lambda: (jpeg_bytes(printed("y = 2x + 1", 10, A4_150DPI)), JPEG),
    "formula 'x² − 4 = 0', 11 px": lambda: (
        jpeg_bytes(printed("x² − 4 = 0", 11, ISSUE_PAGE)),
        JPEG,
    ),
    "'x = 5', pencil 170, 2 mm, 150 dpi": lambda: (
        jpeg_bytes(handwritten(X_EQ_5, A4_150DPI, 1, 2, 170, 61), 70),
        JPEG,
    ),
    "'x = 5', pencil 150, 1 px": lambda: (
        jpeg_bytes(handwritten(X_EQ_5, A4_150DPI, 1, 1, 150, 63), 70),
        JPEG,
    ),
    "'x = 5', pencil 170, 4 mm, 150 dpi": lambda: (
        jpeg_bytes(handwritten(X_EQ_5, A4_150DPI, 2, 2, 170, 67), 70),
        JPEG,
    ),
    "'x = 5', pencil 175, 4 mm, 300 dpi": lambda: (
        jpeg_bytes(handwritten(X_EQ_5, A4_300DPI, 4, 3, 175, 68), 70),
        JPEG,
    ),
    "'x = 5', pencil 180, 2 mm, 300 dpi": lambda: (
        jpeg_bytes(handwritten(X_EQ_5, A4_300DPI, 2, 2, 180, 69), 70),
        JPEG,
    ),
    "'x = 5' in a scanned PDF": lambda: (
        pdf_from_jpegs([jpeg_bytes(handwritten(X_EQ_5, A4_150DPI, 1, 2, 170, 66), 60)]),
        PDF,
    ),
    "signature, blue pen, 150 dpi": lambda: (
        jpeg_bytes(handwritten(SIGNATURE, A4_150DPI, 1, 2, (30, 40, 150), 64), 70),
        JPEG,
    ),
    "signature, pencil, 300 dpi": lambda: (
        jpeg_bytes(handwritten(SIGNATURE, A4_300DPI, 2, 3, 165, 65), 70),
        JPEG,
    ),
}
