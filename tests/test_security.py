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
import socket
import threading
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import httpx
import psycopg
import pytest
from alembic import command
from batches import wait_until_done
from botocore.config import Config as BotoConfig
from pydantic import SecretStr, ValidationError
from sqlalchemy import text
from sqlalchemy.engine import make_url

from devkit.samples import jpeg_bytes, make_page_image
from devkit.standins import Service, start_simulator
from devkit.testdb import drop_database
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import PUBLIC_ACCESS_BLOCKED, ObjectStore, get_store
from pipeline.adapters.provider import get_redis
from pipeline.adapters.provider.apis import spec
from pipeline.adapters.provider.client import ProviderClient
from pipeline.adapters.provider.keys import pool_from, unpark
from pipeline.adapters.services import alembic_config, migrate
from pipeline.errors import AuthFailed, StoreRefused
from pipeline.settings import Settings
from pipeline.stages.enqueue import enqueue_directory
from pipeline.telemetry.logs import configure_logging
from simulator.config import SimConfig

log = logging.getLogger(__name__)

ANALYST = "scangrade_analyst"
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


@pytest.mark.parametrize("log_json", [False, True], ids=["text", "json"])
def test_log_lines_never_show_a_urls_credentials(
    log_json: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """Defence in depth: a library that logs a provider or signed URL has it redacted."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging(Settings(log_json=log_json, log_level="DEBUG"))
        url = "http://aip/rest/2.0/ocr/v1/correct_edu/get_result?access_token=24.ab.cd&x=1"
        logging.getLogger("a.library").info("HTTP Request: POST %s", url)
        try:
            raise RuntimeError("http://aip/oauth/2.0/token?client_id=AK-1&client_secret=SK-1")
        except RuntimeError:
            logging.getLogger("a.library").exception("token request failed")
        logging.getLogger("a.library").info("GET http://bos/x.png?authorization=bce-auth-v1%2F1")
    finally:
        root.handlers[:], root.level = saved
    err = capsys.readouterr().err
    assert "access_token=<redacted>&x=1" in err and "RuntimeError" in err
    assert [s for s in ("24.ab.cd", "AK-1", "SK-1", "bce-auth-v1") if s in err] == []


def test_a_malformed_key_pool_is_reported_without_its_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pool = '{"api_key": "AK-in-the-pool", "secret_key": "SK-in-the-pool"}'  # not a list
    monkeypatch.setenv("SCANGRADE_BAIDU_KEYS", pool)
    with pytest.raises(ValidationError) as bad:
        Settings()
    assert "in-the-pool" not in str(bad.value)


# ---- S3 objects are private -------------------------------------------------------------


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


class _MinioLike(BaseHTTPRequestHandler):
    """What MinIO answers: the bucket exists; a public access block is an unknown API."""

    answer = (501, "NotImplemented")

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, code = self.answer
        body = f"<Error><Code>{code}</Code><Message>no</Message></Error>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(
    ("answer", "fails"), [((501, "NotImplemented"), False), ((403, "AccessDenied"), True)]
)
def test_a_store_without_public_access_blocks_is_used_as_it_is(
    answer: tuple[int, str], fails: bool
) -> None:
    """MinIO (docker compose) has no public access block and private buckets: not an error.

    Any other refusal stops, so a bucket is never used unprotected on S3 by mistake.
    """
    handler = type("Store", (_MinioLike,), {"answer": answer})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = Settings(
        s3_endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
        s3_access_key_id=SecretStr("minio"),
        s3_secret_access_key=SecretStr("minio-secret"),
    )
    try:
        if fails:
            # Credentials without the right to protect the bucket: the operator must act.
            with pytest.raises(StoreRefused, match="AccessDenied"):
                ObjectStore(settings).ensure_bucket()
        else:
            ObjectStore(settings).ensure_bucket()
    finally:
        server.shutdown()
        server.server_close()


# ---- loopback only ---------------------------------------------------------------------


def _address(hex_address: str) -> str:
    """An address of /proc/net/tcp{,6}: little-endian 32-bit words, in hex."""
    ip, _, port = hex_address.partition(":")
    raw = bytes.fromhex(ip)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(words) == 4 else socket.AF_INET6
    return f"{socket.inet_ntop(family, words)} {int(port, 16)}"


def _listening(process_group: int) -> list[str]:
    """Every TCP address a process of the group listens on: "ip port"."""
    inodes: set[str] = set()
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit():
                continue
            stat = (proc / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != process_group:
                continue
            for fd in (proc / "fd").iterdir():
                target = fd.readlink().name
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
        except OSError:
            continue  # the process ended meanwhile
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path("/proc/net", table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.append(_address(fields[1]))
    return found


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.split()[0])
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def test_running_services_listen_on_loopback_only(
    run: Run, simulator: Service, s3: Service, workers: Service
) -> None:
    for service in (simulator, s3):
        addresses = _listening(service.process.pid)
        assert addresses, f"found no listening socket of {service.name}"
        assert [a for a in addresses if not _is_loopback(a)] == [], service.name
    assert [a for a in _listening(workers.process.pid) if not _is_loopback(a)] == []


def test_simulator_binds_loopback_by_default(logs_dir: Path) -> None:
    assert SimConfig().host == "127.0.0.1"
    service = start_simulator(log=logs_dir / "simulator-default.log")
    try:
        assert service.url.startswith("http://127.0.0.1:")
        port = service.url.rsplit(":", 1)[1]
        assert _listening(service.process.pid) == [f"127.0.0.1 {port}"]
    finally:
        service.stop()


def test_settings_point_at_loopback_by_default() -> None:
    fields = Settings.model_fields
    for name in ("database_url", "redis_url"):
        assert urlsplit(fields[name].default).hostname == "127.0.0.1", name
    hosts = {name: field.default for name, field in fields.items() if name.endswith("_host")}
    assert hosts == dict.fromkeys(hosts, "127.0.0.1")


# ---- the analysts' role --------------------------------------------------------------


def _relations() -> list[str]:
    """Every table and view of the schema."""
    with session_scope() as session:
        return list(
            session.scalars(
                text(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'public' ORDER BY table_name"
                )
            )
        )


def _dsn(settings: Settings, database: str | None = None) -> str:
    url = make_url(settings.database_url).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


def _as_analyst(dsn: str, statement: str) -> str | None:
    """Run one statement as scangrade_analyst, rolled back; the SQLSTATE if it failed."""
    with psycopg.connect(dsn) as conn:
        conn.execute(f"SET LOCAL ROLE {ANALYST}")
        try:
            conn.execute(statement)
        except psycopg.Error as e:
            return e.sqlstate
        finally:
            conn.rollback()
    return None


def test_analyst_reads_every_table_and_view(env: Settings) -> None:
    relations = _relations()
    assert {"batches", "pages", "questions", "slots", "essays", "correct_results"} <= {*relations}
    dsn = _dsn(env)
    readable = {name: _as_analyst(dsn, f'SELECT * FROM "{name}" LIMIT 1') for name in relations}
    assert readable.pop("alembic_version") == "42501"
    assert readable == dict.fromkeys(readable)


PERMISSION_DENIED = "42501"

WRITES = [
    "INSERT INTO batches (name, root_dir, api) VALUES ('x', '/x', 'correct_edu')",
    "UPDATE pages SET state = 'failed'",
    "DELETE FROM slots",
    "TRUNCATE questions",
    "INSERT INTO correct_results VALUES (99, 'x')",
    "UPDATE alembic_version SET version_num = 'x'",
    "CREATE TABLE public.notes (id int)",
    "CREATE VIEW public.mine AS SELECT 1 AS one",
    "CREATE SCHEMA analyst_scratch",
    "CREATE INDEX ix_mine ON batches (name)",
    "ALTER TABLE batches ADD COLUMN mine text",
    "DROP TABLE slots",
    "CREATE FUNCTION public.mine() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE SEQUENCE public.mine",
    "COMMENT ON TABLE batches IS 'mine'",
]


@pytest.mark.parametrize("statement", WRITES, ids=lambda s: " ".join(s.split()[:2]))
def test_analyst_writes_and_creates_nothing(env: Settings, statement: str) -> None:
    assert _as_analyst(_dsn(env), statement) == PERMISSION_DENIED


def test_analyst_reads_what_later_migrations_create(env: Settings) -> None:
    """Default privileges: a view added the way a migration adds it is readable at once."""
    with psycopg.connect(_dsn(env)) as conn:
        conn.execute("CREATE VIEW later_view AS SELECT id, name FROM batches")
        conn.execute(f"SET LOCAL ROLE {ANALYST}")
        conn.execute("SELECT * FROM later_view").fetchall()
        conn.rollback()


def test_analyst_role_downgrade_revokes_and_upgrade_grants_again(env: Settings) -> None:
    name = f"{make_url(env.database_url).database}_analyst"
    scratch = env.model_copy(
        update={"database_url": make_url(env.database_url).set(database=name).render_as_string()}
    )
    config = alembic_config(scratch.database_url)
    check = f"SELECT has_table_privilege('{ANALYST}', 'batches', 'SELECT')"
    try:
        migrate(scratch)  # the role exists already: created only if missing
        with psycopg.connect(_dsn(env, name), autocommit=True) as conn:
            assert conn.execute(check).fetchone() == (True,)
            command.downgrade(config, "0005")
            assert conn.execute(check).fetchone() == (False,)
            exists = f"SELECT count(*) FROM pg_roles WHERE rolname = '{ANALYST}'"
            assert conn.execute(exists).fetchone() == (1,)
            command.upgrade(config, "head")
            assert conn.execute(check).fetchone() == (True,)
    finally:
        drop_database(scratch)
