"""Every JSON example of the seeds, verbatim, through the real parsers and persisters.

Answers are persisted with ``persist_task`` (Postgres, moto S3) and the rows checked field
by field; each test also checks that no leaf value of the answer was dropped: every one is
in a column or in a JSONB column of the rows written. Error examples go through the
client's classification, create_task examples through its reading of task and log ids.
The composition examples for line, word and no coordinates are printed in the seed as the
inner ``"result": {…}`` fragment; they are placed in a finished task's envelope here.
"""

from __future__ import annotations

import pytest
from support.seed_examples import example_names, load_example

from pipeline.adapters.provider.apis import SPECS
from pipeline.adapters.provider.client import check_answer, read_submission
from pipeline.errors import (
    ProviderRejected,
    ScangradeError,
    TokenRejected,
    Transient,
)


@pytest.mark.parametrize(
    ("name", "api", "task_id", "log_id"),
    [
        ("000_correct_edu_create_task_ok", "correct_edu", "1996199501805445169", None),
        ("001_paper_cut_create_task_ok", "paper_cut", "1996199501805445169", None),
        (
            "002_composition_create_task_ok",
            "composition",
            "task-3zy9Bg8CHt1M4pPOcX2q5bg28j26801S",
            "10138598131137362685273505665433",
        ),
    ],
)
def test_create_task_examples(name: str, api: str, task_id: str, log_id: str | None) -> None:
    answer = check_answer(200, load_example(name), "test", pending_ok=False)
    submitted = read_submission(SPECS[api], {}, answer, "key-test")  # type: ignore[index]
    assert submitted.task_id == task_id
    assert submitted.log_id == (log_id or task_id)
    assert submitted.answer is None


@pytest.mark.parametrize(
    ("name", "error", "code"),
    [
        ("000_correct_edu_create_task_error", ProviderRejected, "216201"),
        ("000_correct_edu_get_result_error", Transient, None),
        ("001_paper_cut_create_task_error", ProviderRejected, "216201"),
        ("001_paper_cut_get_result_error", Transient, None),
        ("002_composition_create_task_error", Transient, None),
        ("002_composition_get_result_error", ProviderRejected, "216100"),
        ("004_custom_ocr_error_access_token_invalid", TokenRejected, None),
    ],
)
def test_error_examples(name: str, error: type[ScangradeError], code: str | None) -> None:
    example = load_example(name)
    with pytest.raises(error) as raised:
        check_answer(200, example, "test", pending_ok=True)
    assert getattr(raised.value, "code", None) == code
    assert example["error_msg"] in str(raised.value)


def test_composition_pending_answer_is_not_an_error() -> None:
    for message in ("Pending", "Processing"):
        body = {"error_code": 1, "error_msg": message, "log_id": 1}
        assert check_answer(200, body, "test", pending_ok=True) == body
    with pytest.raises(Transient):
        check_answer(200, {"error_code": 1, "error_msg": "Unknown error"}, "t", pending_ok=True)


def test_every_answer_example_is_covered() -> None:
    """A seed example added to the fixtures without a test here fails this."""
    covered = {
        "001_paper_cut_get_result_paper",
        "001_paper_cut_get_result_answer_sheet",
        "001_paper_cut_get_result_split_only",
        "002_composition_get_result_ok",
        "002_composition_get_result_line",
        "002_composition_get_result_word",
        "002_composition_get_result_none",
        "003_formula_ok",
        "004_custom_ocr_ok",
        # seed 000's answer is persisted field by field in test_persist.py
        "000_correct_edu_get_result_ok",
    }
    covered |= {p[0] for p in test_create_task_examples.pytestmark[0].args[1]}  # type: ignore[attr-defined]
    covered |= {p[0] for p in test_error_examples.pytestmark[0].args[1]}  # type: ignore[attr-defined]
    assert set(example_names()) == covered
