"""The persister on the seed's own example answer, verbatim, checked field by field."""

from __future__ import annotations

import json

import pytest

from pipeline.adapters.provider.responses.correct_edu import CorrectEduResult


@pytest.mark.parametrize(
    "variant",
    [
        {"error_code": 0},
        {"error_code": "0"},
    ],
)
def test_tolerant_models_accept_documented_variants(seed_answer: bytes, variant: dict) -> None:
    answer = json.loads(seed_answer) | variant
    question = answer["imageResults"][0]["result"][0]
    question["questionArea"] = question["questionArea"][0]  # one box instead of a list
    question["slot"][0]["handwritingArea"] = [question["slot"][0]["handwritingArea"]]
    question["newField"] = {"kept": True}
    parsed = CorrectEduResult.model_validate(answer)
    q = parsed.images[0].questions[0]
    assert len(q.area) == 1 and q.area[0].right_y == 542
    assert q.slots[0].handwriting_area is not None and q.slots[0].handwriting_area.left_x == 312
    assert q.extra() == {"newField": {"kept": True}}
    assert parsed.finished and parsed.stat is not None and parsed.stat.all == 1
