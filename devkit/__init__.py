"""The development kit: sample scans, stand-in services and the demo, outside the product.

``samples`` makes scans (PDFs, photos, sparse pages) for the demo, the benchmarks and the
tests; ``standins`` starts the simulator and an S3 stand-in (``s3_standin``) as child
processes; ``testdb`` gives each test run its own database and Redis db; ``demo`` runs the
bundled sample batch end to end. The product wheel does not contain it: it is used from a
clone (``make demo``, ``make test``), where the Makefile puts it on the venv's path.
"""
