"""Every task has a time limit below the broker's visibility timeout, and every worker runs a
pool that enforces it (prefork: the pool kills a child that overruns its hard limit)."""

from __future__ import annotations

import pytest

from pipeline.runtime.supervisor import worker_specs
from pipeline.settings import Settings, get_settings
from workers.app import app, create_app


def test_every_task_is_limited_below_the_visibility_timeout() -> None:
    settings = get_settings()
    app.loader.import_default_modules()  # what a worker does at start: load workers.tasks
    ours = [name for name in app.tasks if name.startswith("scangrade.")]
    assert len(ours) >= 7
    for name in ours:
        task = app.tasks[name]
        hard = task.time_limit or app.conf.task_time_limit
        soft = task.soft_time_limit or app.conf.task_soft_time_limit
        assert hard is not None and soft is not None, name
        assert 0 < soft < hard < settings.visibility_timeout_s, name
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost


def test_a_time_limit_at_the_visibility_timeout_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCANGRADE_TASK_TIME_LIMIT_S", "3600")
    monkeypatch.setenv("SCANGRADE_VISIBILITY_TIMEOUT_S", "3600")
    get_settings.cache_clear()
    try:
        with pytest.raises(ValueError, match="visibility timeout"):
            create_app()
    finally:
        get_settings.cache_clear()


def test_every_worker_pool_enforces_time_limits() -> None:
    specs = [s for s in worker_specs(Settings()) if "worker" in s.argv]
    assert {s.name.split("-")[0] for s in specs} >= {
        "ingest", "submit", "poll", "persist", "control",
    }  # fmt: skip
    for spec in specs:
        pool = spec.argv[spec.argv.index("-P") + 1]
        assert pool == "prefork", f"{spec.name} runs a {pool} pool, which ignores time limits"
