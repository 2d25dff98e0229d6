"""``make bench ARGS="--only labels"`` rewrites the label section of results.md, nothing else."""

from __future__ import annotations

from bench.labels import LabelRun
from bench.report import LABELS_HEADING, splice_labels

RUN = LabelRun(200, 60, 59, 0, 0, 8.4, 17.2, 58.2, {"corner": 59})


def test_the_label_section_goes_after_the_parameters_and_replaces_an_earlier_one() -> None:
    earlier = "# bench\n\n| parameter | value |\n\n## Results\n\n| a | b |\n"

    once = splice_labels(earlier, [RUN])

    assert once.index("# bench") < once.index(LABELS_HEADING) < once.index("## Results")
    assert "| codes read | 59 (98.3%) |" in once
    again = splice_labels(once, [LabelRun(200, 60, 60, 0, 0, 8.0, 17.0, 58.0)])
    assert again.count(LABELS_HEADING) == 1 and "| codes read | 60 (100.0%) |" in again
    assert again.endswith("## Results\n\n| a | b |\n")
    assert splice_labels("", [RUN]).startswith(LABELS_HEADING)
