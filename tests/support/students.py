"""Students: from the manifest, the folders or a roster split; unmatched files listed, never
guessed; blank backs skipped before any call; ``enqueue --dry-run`` shows it all and sends
nothing."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageFilter

from devkit.samples import jpeg_bytes, make_page_image


def page(seed: int) -> bytes:
    return jpeg_bytes(make_page_image(seed), quality=60)


def back(seed: int) -> bytes:
    """The blank back of a duplex sheet: paper tone, scanner noise and a few specks."""
    rng = random.Random(seed)
    img = Image.new("L", (1240, 1754), 246)
    for _ in range(20):
        x, y = rng.randrange(1240), rng.randrange(1754)
        img.putpixel((x, y), rng.randrange(60, 200))
    return jpeg_bytes(img.filter(ImageFilter.GaussianBlur(0.6)), quality=70)


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path
