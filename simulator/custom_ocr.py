"""custom_ocr: a trained BML text-recognition model, ``/rpc/2.0/ai_custom/v1/ocr/{model}``.

Unlike the ``/rest/2.0/ocr`` APIs it takes a JSON body only and answers its own 336xxx codes
(seed 004's table): a form-encoded body is 336001 "Invalid Argument" (the seed's own hint for
that error), malformed JSON 336002, no image 336006, bad base64 336003, more than 4 MB of
base64 or a side outside 15-4096 px 336004 (the table's "input file size" code), an image
that will not decode 336005, an unknown ``language_type`` 336001.

The seed names the result list ``words_results`` in its field table and ``words_result`` in
its example; about a quarter of pages (by digest) answer with the table's spelling.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from simulator.texts import ENGLISH_LINES, OCR_LINES
from simulator.validation import Limits, UploadError, decode_base64, picture_from_bytes

LIMITS = Limits(min_side=15, max_side=4096, max_base64_chars=4 * 1024 * 1024, size_code=336004)
# The table's value column stops at HUN; its description also lists THA, VIE, ARA and HIN.
_LANGUAGE_LIST = (
    "auto_detect CHN_ENG ENG JAP KOR FRE SPA POR GER ITA RUS DAN DUT MAL SWE IND POL ROM "
    "TUR GRE HUN THA VIE ARA HIN"
)
LANGUAGES = frozenset(_LANGUAGE_LIST.split(" "))
_LATIN_ONLY = LANGUAGES - {"auto_detect", "CHN_ENG", "JAP", "KOR"}


@dataclass(frozen=True)
class OcrResult:
    """The lines a model reads off one page, with their confidence scores."""

    digest: str
    lines: tuple[tuple[str, float], ...]
    plural_key: bool


def parse_request(raw: bytes, content_type: str) -> tuple[str, str]:
    """``(image, language_type)`` from a JSON body, or UploadError with a 336xxx code."""
    if "x-www-form-urlencoded" in content_type or "multipart/form-data" in content_type:
        raise UploadError(336001, "Invalid Argument")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UploadError(336002, "JSON不合法") from exc
    if not isinstance(body, dict):
        raise UploadError(336002, "JSON不合法")
    image = body.get("image")
    if image is None or image == "":
        raise UploadError(336006, "缺失必要参数")
    language = body.get("language_type") or "CHN_ENG"
    if not isinstance(image, str) or language not in LANGUAGES:
        raise UploadError(336001, "Invalid Argument")
    return image, str(language)


def recognise(image: str, language: str) -> OcrResult:
    """Decode and check the image, then read it; CPU work, run it in a thread."""
    if len(image) > LIMITS.max_base64_chars:
        raise UploadError(336004, "输入文件大小不合法")
    try:
        data = decode_base64(image)
    except UploadError as exc:
        raise UploadError(336003, "Base64解码失败") from exc
    try:
        picture = picture_from_bytes(data, LIMITS)
    except UploadError as exc:
        if exc.code == LIMITS.size_code:
            raise UploadError(336004, "输入文件大小不合法") from exc
        raise UploadError(336005, "图片解码失败") from exc
    rng = random.Random(f"custom_ocr:{picture.digest}:{language}")
    pool = ENGLISH_LINES if language in _LATIN_ONLY else OCR_LINES
    count = rng.randint(1, min(6, len(pool)))
    lines = tuple((text, round(rng.uniform(0.9, 0.999), 4)) for text in rng.sample(pool, count))
    plural = random.Random(f"custom_ocr.quirks:{picture.digest}").random() < 0.25
    return OcrResult(picture.digest, lines, plural)


def answer_body(result: OcrResult, log_id: int) -> dict[str, Any]:
    """The success answer: no ``error_code``, lines with their ``score``."""
    key = "words_results" if result.plural_key else "words_result"
    return {
        "log_id": log_id,
        "words_result_num": len(result.lines),
        key: [{"words": words, "score": score} for words, score in result.lines],
    }
