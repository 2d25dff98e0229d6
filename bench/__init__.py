"""``make bench``: the whole pipeline against the provider simulator, judged by ratios.

Each scenario starts from nothing (its own database, Redis db, simulator and workers), sends
the same batch of generated single-page correct_edu scans through ``scangrade enqueue``, waits
for every page to end and then compares what happened with what was possible: how much of the
quota was used, how many calls each task cost, how long after a result was ready the pipeline
had it, and how close the batch came to the simulator's own best finish (the oracle).

Modules: ``scenarios`` (what each scenario sets), ``pages`` (the cached input batch),
``environment`` (per-scenario database, Redis db and settings), ``broker`` (worker readiness
and the no-op chains), ``observe`` (what the simulator, Postgres and Redis recorded),
``metrics`` (pure functions turning that into numbers), ``run`` (one scenario, start to
cleanup), ``report`` (console tables, ``results.md``, ``calls_per_second.png``).
"""
