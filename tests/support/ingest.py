from __future__ import annotations

import io

from PIL import Image, ImageDraw

from devkit import samples


def _animation(fmt: str, frames: int) -> bytes:
    pictures = [samples.make_page_image(seed, 600, 800) for seed in range(frames)]
    buf = io.BytesIO()
    pictures[0].save(buf, fmt, save_all=True, append_images=pictures[1:], duration=100, loop=0)
    return buf.getvalue()


def _small_crop() -> bytes:
    """What formula and custom_ocr are sent: a small cut-out, here a lone minus sign."""
    img = Image.new("L", (240, 80), 250)
    ImageDraw.Draw(img).rectangle((118, 40, 121, 41), fill=60)
    return samples.png_bytes(img)
