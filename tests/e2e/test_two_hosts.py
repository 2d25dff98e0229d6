"""Two hosts on one deployment: two ``scangrade workers`` (different node hostnames) on one
Postgres, Redis, S3 (moto) and the simulator at the provider's documented quotas.

80 pages over the three async APIs (2 create_task/s each, so about 14 s of creates): both hosts
work, the quota is never exceeded, every page is created once, and one beat leads, so
``dispatch_polls`` runs once a second in the whole deployment, not once per host. Then the
leading beat is killed: another takes over once its lease lapses.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import func, select
from support.batches import wait_until_done
from support.services import PG_BASE, REDIS_BASE

from devkit.samples import jpeg_bytes, make_page_image
from devkit.standins import Service, free_port, start_s3, start_simulator, start_workers
from devkit.testdb import claim_redis_db, drop_database, settings_from
from pipeline.adapters import objectstore
from pipeline.adapters.db.models import Page, ProviderTask
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.provider.apis import Choices
from pipeline.adapters.schema import migrate
from pipeline.domain.routing import routing
from pipeline.runtime.leader import leader_token
from pipeline.settings import get_settings
from pipeline.stages.enqueue import enqueue_directory

API_KEY, SECRET_KEY = "two-hosts-key", "two-hosts-secret"
HOSTS = ("host-a", "host-b")
PAGES = {"correct_edu": 27, "paper_cut": 27, "composition": 26}
#: The provider's documented quotas (../shared/API_NOTES.md), also the simulator's defaults.
DOCUMENTED_QPS = {
    "CORRECT_EDU_CREATE": "2",
    "CORRECT_EDU_GET": "2",
    "PAPER_CUT_CREATE": "2",
    "PAPER_CUT_GET": "10",
    "COMPOSITION_CREATE": "2",
    "COMPOSITION_GET": "10",
    "FORMULA": "2",
    "CUSTOM_OCR": "2",
}
MANIFEST = """\
api = "correct_edu"

[[folders]]
path = "exams"
api = "paper_cut"

[[folders]]
path = "essays"
api = "composition"
"""
FOLDERS = {"correct_edu": "homework", "paper_cut": "exams", "composition": "essays"}


@dataclass
class Deployment:
    simulator: Service
    hosts: dict[str, Service]
    metrics: dict[str, str]
    logs: Path


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    logs = tmp_path_factory.mktemp("two-hosts")
    with contextlib.ExitStack() as stack:
        s3 = start_s3(logs / "s3.log")
        stack.callback(s3.stop)
        # Documented quotas (no --quota-scale); only processing times are shortened.
        sim_args = ("--key", f"{API_KEY}:{SECRET_KEY}", "--time-scale", "0.05")
        simulator = start_simulator(sim_args, logs / "simulator.log")
        stack.callback(simulator.stop)
        redis_url = claim_redis_db(REDIS_BASE, f"pytest-two-hosts-{uuid.uuid4().hex}")
        values = {
            "SCANGRADE_DATABASE_URL": f"{PG_BASE}/scangrade_hosts_{uuid.uuid4().hex[:10]}",
            "SCANGRADE_REDIS_URL": redis_url,
            "SCANGRADE_S3_ENDPOINT_URL": s3.url,
            "SCANGRADE_S3_BUCKET": "scangrade-two-hosts",
            "SCANGRADE_S3_ACCESS_KEY_ID": "testing",
            "SCANGRADE_S3_SECRET_ACCESS_KEY": "testing",
            "SCANGRADE_BAIDU_BASE_URL": simulator.url,
            "SCANGRADE_BAIDU_API_KEY": API_KEY,
            "SCANGRADE_BAIDU_SECRET_KEY": SECRET_KEY,
            "SCANGRADE_BAIDU_KEYS": "[]",
            "SCANGRADE_POLL_FIRST_MIN_S": "0.5",
            "SCANGRADE_POLL_FIRST_MAX_S": "1",
            "SCANGRADE_POLL_MAX_INTERVAL_S": "1",
            "SCANGRADE_SETTLE_S": "0",
            "SCANGRADE_INGEST_CONCURRENCY": "1",
            **{f"SCANGRADE_{name}_QPS": qps for name, qps in DOCUMENTED_QPS.items()},
        }
        stack.enter_context(settings_from(values))
        settings = get_settings()
        migrate(settings)
        stack.callback(drop_database, settings)
        stack.callback(lambda: redis.Redis.from_url(redis_url).flushdb())
        objectstore.get_store().ensure_bucket()
        hosts, metrics = {}, {}
        for host in HOSTS:
            port = free_port()
            own = {
                "SCANGRADE_NODE_HOSTNAME": host,
                "SCANGRADE_METRICS_PORT": str(port),
                "PROMETHEUS_MULTIPROC_DIR": str(logs / f"metrics-{host}"),
            }
            (logs / f"metrics-{host}").mkdir()
            hosts[host] = start_workers(own, logs / f"{host}.log")
            stack.callback(hosts[host].stop)
            metrics[host] = f"http://127.0.0.1:{port}/metrics"
        yield Deployment(simulator, hosts, metrics, logs)


def _counters(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """A /metrics page's samples: (name, labels) -> value."""
    found = {}
    for line in httpx.get(url, timeout=10).text.splitlines():
        match = re.fullmatch(r"(\w+)\{(.*)\} (\S+)", line)
        if match:
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
            found[(match.group(1), labels)] = float(match.group(3))
    return found


def _count(url: str, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in _counters(url).items() if n == name and wanted <= ls)


def _ticks(deployment: Deployment) -> dict[str, float]:
    """dispatch_polls messages over both hosts so far, by outcome (ran, not_leader, overlap)."""
    found: dict[str, float] = {}
    for url in deployment.metrics.values():
        for (name, labels), value in _counters(url).items():
            if name == "scangrade_periodic_runs_total" and ("task", "dispatch_polls") in labels:
                outcome = dict(labels)["outcome"]
                found[outcome] = found.get(outcome, 0.0) + value
    return found


def _wait_for_ticks(deployment: Deployment, timeout: float = 180) -> None:
    """Both supervisors serve /metrics and some beat leads (start-up is not what is measured)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if _ticks(deployment).get("ran", 0) >= 2:
                return
        for host, service in deployment.hosts.items():
            assert service.process.poll() is None, f"{host} exited (see {deployment.logs})"
        time.sleep(1)
    raise AssertionError(f"no dispatch tick within {timeout} s (see {deployment.logs})")


def _write_pages(root: Path) -> int:
    root.mkdir(parents=True)
    (root / "scangrade.toml").write_text(MANIFEST, encoding="utf-8")
    base = uuid.uuid4().int % 10**8  # content of this run's own: no dedup against other tests
    n = 0
    for api, count in PAGES.items():
        folder = root / FOLDERS[api]
        folder.mkdir()
        for _ in range(count):
            n += 1
            (folder / f"p{n:03d}.jpg").write_bytes(jpeg_bytes(make_page_image(base + n)))
    return n


@pytest.fixture(scope="module")
def night(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("two-hosts-night") / "2026-12-02"
    pages = _write_pages(root)
    _wait_for_ticks(deployment)
    ticks0, t0 = _ticks(deployment), time.monotonic()
    routes = routing(root, api=None, choices=Choices(), manifest=None, default_endpoint=None)
    batch = f"hosts-{uuid.uuid4().hex[:8]}"
    report = enqueue_directory(root, objectstore.get_store(), batch_name=batch, routes=routes)
    wait_until_done(report.batch_id, timeout=300)
    elapsed = time.monotonic() - t0
    return {  # ticks: dispatch_polls messages during the batch, by outcome
        "batch_id": report.batch_id,
        "pages": pages,
        "elapsed_s": elapsed,
        "ticks": {k: v - ticks0.get(k, 0.0) for k, v in _ticks(deployment).items()},
    }


def test_every_page_done_and_created_exactly_once(night: dict[str, Any], deployment) -> None:
    with session_scope() as session:
        states = dict(
            session.execute(
                select(Page.state, func.count())
                .where(Page.batch_id == night["batch_id"])
                .group_by(Page.state)
            ).all()
        )
        created = session.execute(
            select(ProviderTask.page_id, func.count())
            .join(Page)
            .where(Page.batch_id == night["batch_id"])
            .group_by(ProviderTask.page_id)
        ).all()
    assert states == {"done": night["pages"]}
    assert len(created) == night["pages"] and {n for _, n in created} == {1}
    # What the provider saw: each page's bytes uploaded by one create_task, which made a task.
    uploads = httpx.get(f"{deployment.simulator.url}/_sim/uploads", timeout=30).json()["uploads"]
    assert len(uploads) == night["pages"]
    for sha, counts in uploads.items():
        assert counts["calls"] == 1 and len(counts["task_ids"]) == 1, (sha, counts)


def test_the_simulator_never_answered_18(night: dict[str, Any], deployment) -> None:
    calls = httpx.get(f"{deployment.simulator.url}/_sim/stats", timeout=30).json()["calls"]
    refused = {op: outcomes["18"] for op, outcomes in calls.items() if "18" in outcomes}
    assert refused == {}
    creates = sum(v.get("ok", 0) for op, v in calls.items() if op.endswith(".create_task"))
    assert creates == night["pages"]


def test_both_hosts_did_work(night: dict[str, Any], deployment) -> None:
    for task in ("scangrade.submit_page", "scangrade.poll_task", "scangrade.persist_task"):
        runs = {
            host: _count(url, "scangrade_tasks_total", task=task, outcome="succeeded")
            for host, url in deployment.metrics.items()
        }
        assert all(n > 0 for n in runs.values()), (task, runs)
        print(f"{task} succeeded per host: {runs}")
    for host in HOSTS:  # and the node names say which host they are
        assert f"submit@{host}" in _log(deployment, host)


def test_dispatch_ticks_once_a_second_in_all(night: dict[str, Any], deployment) -> None:
    """One beat sends (the other stands by): a message a second in all, not one per host."""
    ticks = night["ticks"]
    sent = sum(ticks.values())
    print(f"{night['pages']} pages in {night['elapsed_s']:.1f} s; dispatch_polls: {ticks}")
    assert 0.7 <= sent / night["elapsed_s"] <= 1.1, (ticks, night["elapsed_s"])
    assert ticks.get("ran", 0) / night["elapsed_s"] >= 0.7, (ticks, night["elapsed_s"])
    assert ticks.get("not_leader", 0) == 0  # nothing from a beat that does not lead
    # A tick whose predecessor still runs (on the other host's control node) waits its turn.
    assert ticks.get("overlap", 0) <= 0.1 * sent
    took = [host for host in HOSTS if "beat lease taken" in _log(deployment, host)]
    assert len(took) == 1, took
    for host in HOSTS:  # both beats ran: one led, the other stood by
        assert "beat: Starting" in _log(deployment, host), host


def _log(deployment: Deployment, host: str) -> str:
    return (deployment.logs / f"{host}.log").read_text(errors="replace")


def test_a_killed_leaders_beat_is_replaced_within_the_lease(
    night: dict[str, Any], deployment: Deployment
) -> None:
    """SIGKILL the leading beat (no clean release): another takes the lease once it lapses."""
    client = redis.Redis.from_url(get_settings().redis_url)
    old = leader_token(client)
    leader = next(host for host in HOSTS if "beat lease taken" in _log(deployment, host))
    beat = _beat_pid(deployment.hosts[leader].process.pid)
    os.kill(beat, signal.SIGKILL)
    killed, ran = time.monotonic(), _ticks(deployment).get("ran", 0)
    lease_s = get_settings().beat_lease_s
    while leader_token(client) in (old, None) or _ticks(deployment).get("ran", 0) <= ran:
        assert time.monotonic() - killed < lease_s + 15, "no beat took over"
        time.sleep(0.5)
    assert time.monotonic() - killed >= lease_s * 0.5  # it waited for the dead one's lease


def _beat_pid(supervisor: int) -> int:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            if parent == supervisor and b"beat" in cmdline:
                return int(entry.name)
    raise AssertionError("no beat process under the supervisor")
