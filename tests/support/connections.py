"""The connection budget: pools sized per process role, and a batch that finishes short of them.

The unit tests check each role's pool and that the README's figure for a host is what the
default topology needs. The end-to-end test starts a Postgres cluster of its own whose
``max_connections`` lies well below what this module's workers need at peak (6 of 18), runs a
batch on real workers through it, and requires every page done within a poll's lease,
refusals seen in Postgres' log, no traceback in the workers' log and one line per refusal at
most.
"""

from __future__ import annotations

from pipeline.runtime.supervisor import worker_specs
from pipeline.settings import Settings


def pool_nodes(settings: Settings) -> list[tuple[str, int]]:
    """(queues, children) of every worker node ``scangrade workers`` starts."""
    nodes = []
    for spec in worker_specs(settings):
        if "worker" in spec.argv:
            argv = list(spec.argv)
            nodes.append((argv[argv.index("-Q") + 1], int(argv[argv.index("-c") + 1])))
    return nodes
