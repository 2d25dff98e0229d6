"""A local stand-in for the provider's correct_edu API, faithful to its documented behaviour.

It imports nothing from the rest of ``pipeline`` so that it stays an honest, independent
implementation of the provider's contract: the pipeline cannot pass against it by sharing a
misunderstanding with it.
"""

from __future__ import annotations

from pipeline.simulator.config import SimConfig
from pipeline.simulator.runner import serve
from pipeline.simulator.server import create_app

__all__ = ["SimConfig", "create_app", "serve"]
