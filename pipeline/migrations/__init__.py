"""The database migrations (Alembic's env.py and versions/), shipped inside the package.

``pipeline.adapters.schema.alembic_config`` points Alembic here, so an installed copy migrates
without the source tree.
"""
