"""Each integration module runs on a database and a Redis db of its own.

xdist runs integration and end-to-end modules in the same processes, and an end-to-end module's
workers (a session fixture) go on running after it: on a shared database their beat would
lease, nudge and repair the rows an integration test made up, and their workers would take the
nudges it sends. So here ``env`` lasts one module, on services nothing else uses.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.services import ServicesDown, own_services

from devkit.standins import Service
from pipeline.settings import Settings


@pytest.fixture(scope="module")
def env(template_database: str, simulator: Service, s3: Service) -> Iterator[Settings]:
    try:
        with own_services(template_database, s3.url, simulator.url) as settings:
            yield settings
    except ServicesDown as e:
        pytest.exit(str(e), returncode=3)
