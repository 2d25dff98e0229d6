"""Security (issue 5, item 7) on real services.

- No access token, key or secret anywhere: after a run through real workers that includes
  failures (rejected and broken files, a page the provider refuses, tokens rejected and
  refreshed, a token endpoint and an API answering 5xx, a result URL refused once) and a call
  made with a wrong secret, none of the secrets and none of the token answers the simulator
  ever granted is in any log file, any column of any table, or any S3 object.
- Every local service listens on loopback only, and does by default.
- ``scangrade_analyst`` reads the result tables and views, and writes and creates nothing.
- S3 objects are private; keys are made of ids; a file reached through a symlink that leads
  out of the scanned directory is never read.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config as BotoConfig
from pydantic import SecretStr
from sqlalchemy import text
from support.batches import wait_until_done
from support.security import listening

from devkit.samples import jpeg_bytes, make_page_image
from devkit.standins import Service
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import PUBLIC_ACCESS_BLOCKED, get_store
from pipeline.adapters.provider import get_redis
from pipeline.adapters.provider.apis import spec
from pipeline.adapters.provider.client import ProviderClient
from pipeline.adapters.provider.keys import pool_from, unpark
from pipeline.errors import AuthFailed
from pipeline.settings import Settings
from pipeline.stages.enqueue import enqueue_directory
from pipeline.telemetry.logs import configure_logging

log = logging.getLogger(__name__)


WRONG_SECRET = f"wrong-secret-{uuid.uuid4().hex}"


# One of each failure the provider can cause on the way, each once.
FAULTS = [
    {"operation": "correct_edu.create_task", "error_code": 110, "count": 1},
    {"operation": "correct_edu.create_task", "error_code": 216201, "count": 1},
    {"operation": "correct_edu.create_task", "http_status": 502, "count": 1},
    {"operation": "correct_edu.get_result", "error_code": 111, "count": 1},
    {"operation": "correct_edu.get_result", "error_code": 282000, "count": 1},
    {"operation": "oauth.token", "http_status": 500, "count": 1},
    {"operation": "bos.get", "http_status": 403, "count": 1},
]


@dataclass(frozen=True)
class Run:
    """A finished batch that went through failures, and every secret that was around."""

    batch_id: int
    secrets: dict[str, str]  # what it is -> the secret itself
    outside: bytes  # the file a symlink in the batch pointed at, outside the directory
    faults_left: list[dict[str, object]]


@contextmanager
def _logging_like_a_worker(settings: Settings, path: Path) -> Iterator[None]:
    """This process logs as ``scangrade`` processes do, and also into a file of the logs
    directory through a plain handler: a leak at the source shows there even where the
    workers' handler would have redacted a URL's credentials."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging(settings)
    handler = logging.FileHandler(path)
    handler.setFormatter(root.handlers[0].formatter)
    root.addHandler(handler)
    try:
        yield
    finally:
        handler.close()
        root.handlers[:], root.level = saved


def _call_with_wrong_secret(settings: Settings, logs_dir: Path) -> None:
    """Submit a page with the right API key and a wrong secret: the token refresh fails."""
    wrong = settings.model_copy(update={"baidu_secret_key": SecretStr(WRONG_SECRET)})
    with (
        _logging_like_a_worker(settings, logs_dir / "in-process.log"),
        httpx.Client(timeout=30) as http,
    ):
        client = ProviderClient(wrong, pool_from(wrong), get_redis(), http)
        page = jpeg_bytes(make_page_image(301))
        with pytest.raises(AuthFailed) as refused:
            client.submit(spec("correct_edu"), page, "image/jpeg", {})
        unpark(get_redis(), pool_from(wrong)[0].key_id)  # the run's own key, right secret
        # What a worker writes when a task fails: the message, then the whole chain.
        log.error("page not submitted: %s", refused.value)
        log.error("%r\n%s", refused.value, "".join(traceback.format_exception(refused.value)))


def _scan_directory(base: Path) -> tuple[Path, bytes]:
    """Good pages named after students, files that cannot be used, and a way out."""
    root = base / "scans"
    (root / "7C").mkdir(parents=True)
    for seed, name in ((311, "Zhang Wei"), (312, "Li Na"), (313, "Wang Fang")):
        (root / "7C" / f"{name}.jpg").write_bytes(jpeg_bytes(make_page_image(seed)))
    (root / "notes.txt").write_text("not a scan")
    (root / "empty.jpg").write_bytes(b"")
    (root / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj\n<<")
    (root / "truncated.jpg").write_bytes(jpeg_bytes(make_page_image(314))[:4000])
    outside = jpeg_bytes(make_page_image(315))
    (base / "outside.jpg").write_bytes(outside)
    (root / "link.jpg").symlink_to(base / "outside.jpg")
    return root, outside


@pytest.fixture(scope="module")
def run(
    env: Settings,
    workers: Service,
    simulator: Service,
    logs_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Run]:
    with httpx.Client(base_url=simulator.url, timeout=30) as sim:
        sim.post("/_sim/expire_tokens").raise_for_status()
        _call_with_wrong_secret(env, logs_dir)
        sim.post("/_sim/faults", json={"rules": FAULTS}).raise_for_status()
        try:
            root, outside = _scan_directory(tmp_path_factory.mktemp("security"))
            name = f"security-{uuid.uuid4()}"
            report = enqueue_directory(root, get_store(), batch_name=name, settle_s=0)
            wait_until_done(report.batch_id, timeout=120)
            faults_left = sim.get("/_sim/faults").json()["rules"]
        finally:
            sim.post("/_sim/faults", json={"rules": []})
        grants = sim.get("/_sim/tokens").json()["grants"]
    assert env.baidu_api_key and env.baidu_secret_key
    secrets = {
        "API key": env.baidu_api_key.get_secret_value(),
        "secret key": env.baidu_secret_key.get_secret_value(),
        "wrong secret key": WRONG_SECRET,
    }
    for number, grant in enumerate(grants):
        secrets |= {f"{name} #{number}": v for name, v in grant.items() if name != "api_key"}
    yield Run(report.batch_id, secrets, outside, faults_left)


def test_the_run_went_through_failures(run: Run) -> None:
    with session_scope() as session:
        pages = session.execute(
            text("SELECT state, error_code FROM pages WHERE batch_id = :b"), {"b": run.batch_id}
        ).all()
        documents = dict(
            session.execute(
                text("SELECT rel_path, error_code FROM documents WHERE batch_id = :b"),
                {"b": run.batch_id},
            ).all()
        )
    assert documents["link.jpg"] == "outside_root"
    assert documents["notes.txt"] and documents["broken.pdf"] and documents["empty.jpg"]
    assert ("failed", "216201") in pages, (pages, documents)
    assert sum(state == "done" for state, _ in pages) >= 2, pages
    assert [rule["count"] for rule in run.faults_left] == [0] * len(FAULTS)
    assert sum(what.startswith("access_token") for what in run.secrets) >= 3


def _database_texts() -> Iterator[tuple[str, str]]:
    """(table.column, value as text) for every value of every column in the database."""
    with session_scope() as session:
        columns = session.execute(
            text(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
            )
        ).all()
        for table, column, data_type in columns:
            values = session.scalars(
                text(f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL')
                if data_type == "bytea"
                else text(f'SELECT "{column}"::text FROM "{table}" WHERE "{column}" IS NOT NULL')
            )
            for value in values:
                shown = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
                yield f"{table}.{column}", shown


def test_no_secret_in_any_row(run: Run) -> None:
    found = [
        (where, what)
        for where, value in _database_texts()
        for what, secret in run.secrets.items()
        if secret in value
    ]
    assert found == []


def test_no_secret_or_signed_url_in_errors_or_rows(run: Run) -> None:
    with session_scope() as session:
        errors = session.scalars(
            text(
                "SELECT error FROM pages WHERE error IS NOT NULL UNION ALL "
                "SELECT error FROM documents WHERE error IS NOT NULL UNION ALL "
                "SELECT error FROM artifacts WHERE error IS NOT NULL UNION ALL "
                "SELECT error FROM provider_tasks WHERE error IS NOT NULL"
            )
        ).all()
    assert len(errors) >= 5, "the run recorded its failures"
    assert not [e for e in errors if any(secret in e for secret in run.secrets.values())]
    assert not [(where, v) for where, v in _database_texts() if "authorization=" in v]


def test_no_secret_in_any_log(run: Run, logs_dir: Path) -> None:
    files = sorted(p for p in logs_dir.rglob("*") if p.is_file())
    assert {"workers.log", "simulator.log", "s3.log", "in-process.log"} <= {p.name for p in files}
    in_process = (logs_dir / "in-process.log").read_text()
    assert "page not submitted" in in_process and "AuthFailed" in in_process
    found = []
    for path in files:
        content = path.read_text(errors="replace")
        found += [(path.name, what) for what, secret in run.secrets.items() if secret in content]
        if "authorization=bce-auth-v1" in content:
            found.append((path.name, "a signed URL's signature"))
    assert found == []


def test_no_secret_in_any_object_and_nothing_from_outside(run: Run) -> None:
    store = get_store()
    keys = store.keys()
    outside = hashlib.sha256(run.outside).digest()
    found = []
    for key in keys:
        data = store.get(key)
        found += [(key, what) for what, secret in run.secrets.items() if secret.encode() in data]
        if hashlib.sha256(data).digest() == outside:
            found.append((key, "the file outside the scanned directory"))
    assert any(key.startswith(f"batches/{run.batch_id}/") for key in keys)
    assert found == []


_ID_KEY = re.compile(
    r"batches/\d+/documents/\d+/(original/\d{4}\.[a-z0-9]+"
    r"|pages/\d{4}/(page\.[a-z]+|tasks/[A-Za-z0-9_-]+/"
    r"(result\.json|image-\d+\.png|crops/\d+-\d{3}\.png|enhanced\.png)))"
)


def test_object_keys_are_made_of_ids(run: Run) -> None:
    keys = get_store().keys(f"batches/{run.batch_id}/")
    assert keys
    assert [key for key in keys if not _ID_KEY.fullmatch(key)] == []


def _s3_client(settings: Settings):
    assert settings.s3_access_key_id and settings.s3_secret_access_key
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id.get_secret_value(),
        aws_secret_access_key=settings.s3_secret_access_key.get_secret_value(),
        config=BotoConfig(s3={"addressing_style": "path"}),
    )


def test_bucket_and_objects_are_private(run: Run, env: Settings) -> None:
    client = _s3_client(env)
    bucket = env.s3_bucket
    block = client.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == PUBLIC_ACCESS_BLOCKED
    acl = client.get_bucket_acl(Bucket=bucket)
    only_owner = {(acl["Owner"]["ID"], "FULL_CONTROL")}
    assert _grants(acl["Grants"]) == only_owner
    keys = get_store().keys(f"batches/{run.batch_id}/")
    assert keys
    with httpx.Client(base_url=f"{env.s3_endpoint_url}/{bucket}", timeout=30) as anonymous:
        for key in keys:
            assert _grants(client.get_object_acl(Bucket=bucket, Key=key)["Grants"]) == only_owner
            assert anonymous.get(f"/{key}").status_code == 403, key


def _grants(grants: list[dict]) -> set[tuple[str | None, str]]:
    """Who may do what: a canonical user's id, or None for a group (AllUsers...)."""
    return {(grant["Grantee"].get("ID"), grant["Permission"]) for grant in grants}


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.split()[0])
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def test_running_services_listen_on_loopback_only(
    run: Run, simulator: Service, s3: Service, workers: Service
) -> None:
    for service in (simulator, s3):
        addresses = listening(service.process.pid)
        assert addresses, f"found no listening socket of {service.name}"
        assert [a for a in addresses if not _is_loopback(a)] == [], service.name
    assert [a for a in listening(workers.process.pid) if not _is_loopback(a)] == []
