"""Scans the ingest tests build: animations, small crops, and how two images differ."""

from __future__ import annotations

import io

from PIL import Image, ImageChops, ImageDraw, ImageStat

from devkit import samples


def animation(fmt: str, frames: int) -> bytes:
    pictures = [samples.make_page_image(seed, 600, 800) for seed in range(frames)]
    buf = io.BytesIO()
    pictures[0].save(buf, fmt, save_all=True, append_images=pictures[1:], duration=100, loop=0)
    return buf.getvalue()


def small_crop() -> bytes:
    """What formula and custom_ocr are sent: a small cut-out, here a lone minus sign."""
    img = Image.new("L", (240, 80), 250)
    ImageDraw.Draw(img).rectangle((118, 40, 121, 41), fill=60)
    return samples.png_bytes(img)


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size, (a.size, b.size)
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3
