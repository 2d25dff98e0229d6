"""Gauges read from Postgres when /metrics is scraped (``pipeline.telemetry.metrics`` serves them).

``scangrade_pages{state}``: pages by state. Done and failed pages are the pipeline's output and
Postgres is their one record, so the gauge asks it at each scrape instead of counting in the
workers. The endpoints that show it (the supervisor's, a control worker's of its own) are
given a :class:`PagesCollector`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from pipeline.adapters.db.models import Page
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import PageState

log = logging.getLogger(__name__)


class PagesCollector(Collector):
    """``scangrade_pages{state}``: one GROUP BY over the pages' state index per scrape."""

    def collect(self) -> Iterator[Metric]:
        """Pages by state; nothing when Postgres does not answer (the scrape still works)."""
        try:
            with session_scope() as session:
                rows = session.execute(select(Page.state, func.count()).group_by(Page.state))
                counts = {state: int(count) for state, count in rows}
        except Exception as e:
            log.warning("metrics: cannot count pages: %s", type(e).__name__)
            return
        family = GaugeMetricFamily(
            "scangrade_pages", "Pages by state, from Postgres.", labels=["state"]
        )
        for state in PageState:
            family.add_metric([state.value], counts.get(state.value, 0))
        yield family
