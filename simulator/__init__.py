"""A local stand-in for the provider's education OCR APIs, faithful to their documents.

It imports nothing from the product (``pipeline``, ``workers``) or the dev kit (``devkit``) so
that it stays an honest, independent implementation of the provider's contract: the pipeline
cannot pass against it by sharing a misunderstanding with it (tests/unit/test_packaging.py).
It is no part of the product wheel: it runs from a clone (``python -m simulator``, its
dependencies the ``simulator`` extra) or from the Dockerfile's ``simulator`` stage.

Provider endpoints: ``/oauth/2.0/token``; async ``/rest/2.0/ocr/v1/{correct_edu,
paper_cut_edu_vlm,handwriting_composition}/{create_task,get_result}``; sync
``/rest/2.0/ocr/v1/formula`` and ``/rpc/2.0/ai_custom/v1/ocr/{model}`` (custom OCR models);
signed result images under ``/bos/``. Every answer is deterministic from the uploaded bytes
(seeded by their SHA-256), including which of the documents' contradictory spellings a page
gets. Simulator endpoints for tests and benchmarks: ``GET /_sim/stats``,
``GET /_sim/calls[?since=&detail=1]``, ``GET /_sim/uploads``, ``GET /_sim/tasks``,
``GET /_sim/tasks/{task_id}/answer``,
``POST /_sim/reset``, ``GET|POST /_sim/config``, ``GET|POST /_sim/faults`` and
``POST /_sim/expire_tokens``.
"""

from __future__ import annotations

from simulator.config import SimConfig
from simulator.runner import serve
from simulator.server import create_app

__all__ = ["SimConfig", "create_app", "serve"]
