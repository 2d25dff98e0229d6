"""A local stand-in for the provider's correct_edu API, faithful to its documented behaviour.

It imports nothing from the rest of ``pipeline`` so that it stays an honest, independent
implementation of the provider's contract: the pipeline cannot pass against it by sharing a
misunderstanding with it.

Provider endpoints: ``/oauth/2.0/token``, ``/rest/2.0/ocr/v1/correct_edu/{create_task,
get_result}`` and signed result images under ``/bos/``. Simulator endpoints for tests and
benchmarks: ``GET /_sim/stats``, ``GET /_sim/calls[?since=]``, ``GET /_sim/tasks``,
``POST /_sim/reset``, ``GET|POST /_sim/config``, ``GET|POST /_sim/faults`` and
``POST /_sim/expire_tokens``.
"""

from __future__ import annotations

from pipeline.simulator.config import SimConfig
from pipeline.simulator.runner import serve
from pipeline.simulator.server import create_app

__all__ = ["SimConfig", "create_app", "serve"]
