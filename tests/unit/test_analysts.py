"""docs/analysts.md and its views against a batch graded by the real pipeline.

One night's directory in the ``<class>/<student>/…`` layout goes through real workers, the
simulator, Postgres and S3: two classes, a student whose rate is below 60 % and one well
above, a file outside the layout, a page too small to grade, a file that is not a scan, and
a scan sent twice (skipped). Every ```sql block of the doc then runs as
``scangrade_analyst``, and the views' numbers are checked against counts taken from the base
tables, with class, student and assignment derived by the teachers' report's own functions.
``scangrade export`` is run on the same batch.
"""

from __future__ import annotations

import re

from support.analysts import CHECKS, QUERIES


def test_the_doc_has_a_checked_query_under_each_heading() -> None:
    assert 6 <= len(QUERIES) <= 10
    assert [query.heading for query in QUERIES] == list(CHECKS)
    for query in QUERIES:
        assert re.search(r"\bv_\w+", query.sql), f"{query.heading}: reads no view"
