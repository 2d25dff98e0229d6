"""scangrade: bulk grading of school scans through Baidu's education OCR APIs.

The package is layered, and imports run one way, top to bottom: the operator surface
(``operator``: the CLI, its screens, the report) and the Celery tasks (the top-level
``workers`` package) call the flow ``stages``; stages apply the batch ``domain`` (students,
routing, polling schedules, progress, rows); the domain and the stages reach the world only
through ``adapters`` (provider, database, object store, broker, webhook, documents).
``runtime`` runs the worker nodes of one host, ``telemetry`` (metrics, logs) is used by every
layer, and ``settings`` and ``errors`` are the core every layer shares.
"""
