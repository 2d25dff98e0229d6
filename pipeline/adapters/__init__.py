"""Adapters: the only code that talks to something outside the process.

The provider's HTTP APIs and their account-wide limiter (``provider``), Postgres
(``db``, ``services``, and ``schema``: the database's creation and migrations), the object
store (``objectstore``), the Celery broker that carries nudges (``broker``), teachers'
webhooks (``webhook``), password hashes (``passwords``) and the scanned files themselves
(``documents``: discovery, PDFs, images, blank pages). An adapter knows nothing of batches
or stages: values in, values out, failures raised as :mod:`pipeline.errors` classes.
"""
