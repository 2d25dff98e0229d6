"""How the pipeline runs on a host: its worker nodes, their supervisor and beat's lease.

``topology`` writes the nodes, queues and pools once (the supervisor and docker-compose both
read it), ``supervisor`` runs them and restarts what dies, ``leader`` keeps one beat per
deployment. The Celery app itself lives in the top-level ``workers`` package.
"""
