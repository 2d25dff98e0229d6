"""``python -m pipeline.operator.cli``: the ``scangrade`` command, without its script."""

from __future__ import annotations

import logging

from pipeline.operator.cli import main

logging.captureWarnings(True)
main()  # pylint: disable=no-value-for-parameter
