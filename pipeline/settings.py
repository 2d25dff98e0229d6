"""The one settings object: every knob is an environment variable prefixed ``SCANGRADE_``.

Read once through :func:`get_settings`; nothing is read at import time. The README lists every
variable; ``scangrade settings`` prints the effective values with secrets masked.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Api = Literal["correct_edu", "paper_cut", "composition", "formula", "custom_ocr"]
"""The provider APIs scangrade speaks, by the names operators type (``--api``)."""
Operation = Literal["create_task", "get_result", "call"]
"""``call`` is the one request of a synchronous API (formula, custom_ocr)."""


QPS_FIELDS: dict[tuple[Api, Operation], str] = {
    ("correct_edu", "create_task"): "correct_edu_create_qps",
    ("correct_edu", "get_result"): "correct_edu_get_qps",
    ("paper_cut", "create_task"): "paper_cut_create_qps",
    ("paper_cut", "get_result"): "paper_cut_get_qps",
    ("composition", "create_task"): "composition_create_qps",
    ("composition", "get_result"): "composition_get_qps",
    ("formula", "call"): "formula_qps",
    ("custom_ocr", "call"): "custom_ocr_qps",
}
"""Every operation of every API (the lanes of the shared limiter), and the setting of its quota."""


#: The time after a task's hard time limit before its claim counts as orphaned.
CLAIM_GRACE_S = 10.0


class ApiKeySettings(BaseModel):
    """One API key of the pool (``SCANGRADE_BAIDU_KEYS`` is a JSON list of these)."""

    # A rejected value would otherwise be echoed into the error, keys and secrets included.
    model_config = ConfigDict(hide_input_in_errors=True)

    api_key: SecretStr
    secret_key: SecretStr
    daily_budget: int | None = Field(
        None, ge=1, description="Calls of any kind this key may make per provider day."
    )
    quotas: dict[str, float] = Field(
        default_factory=dict,
        description='This key\'s own QPS where it differs: {"correct_edu.create_task": 4}.',
    )

    @field_validator("quotas")
    @classmethod
    def _known_operations(cls, quotas: dict[str, float]) -> dict[str, float]:
        known = [f"{api}.{op}" for api, op in QPS_FIELDS]
        for name, qps in quotas.items():
            if name not in known:
                raise ValueError(f"unknown operation {name!r}; known: {', '.join(known)}")
            if qps < 0:
                raise ValueError(f"{name}: a quota cannot be negative")
        return quotas


class Settings(BaseSettings):
    """Deployment configuration, from the environment (or a ``.env`` file)."""

    model_config = SettingsConfigDict(
        env_prefix="SCANGRADE_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    database_url: str = Field(
        "postgresql+psycopg://postgres@127.0.0.1:5432/scangrade",
        description="SQLAlchemy URL of the Postgres database that records all work.",
    )
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Redis: Celery broker, shared rate limiter and token cache.",
    )
    s3_endpoint_url: str | None = Field(
        None, description="S3 endpoint (MinIO, moto); unset means AWS itself."
    )
    s3_bucket: str = Field("scangrade", description="Bucket for originals, pages and results.")
    s3_region: str = Field("us-east-1", description="S3 region name.")
    s3_access_key_id: SecretStr | None = Field(
        None, description="S3 access key; unset means boto3's usual credential chain."
    )
    s3_secret_access_key: SecretStr | None = Field(None, description="S3 secret key.")

    baidu_base_url: str = Field(
        "https://aip.baidubce.com",
        description="Provider base URL; the OAuth and every API URL derive from it.",
    )
    baidu_api_key: SecretStr | None = Field(None, description="Provider API key (client_id).")
    baidu_secret_key: SecretStr | None = Field(
        None, description="Provider secret key (client_secret)."
    )
    baidu_keys: list[ApiKeySettings] = Field(
        default_factory=list,
        description="Pool of API keys, a JSON list of {api_key, secret_key, daily_budget, "
        "quotas}; replaces SCANGRADE_BAIDU_API_KEY/SECRET_KEY when set.",
    )
    http_timeout_s: float = Field(
        60.0, gt=0, description="Timeout of one provider HTTP call (read, write, pool wait)."
    )
    http_connect_timeout_s: float = Field(
        5.0, gt=0, description="Timeout of opening a connection to the provider."
    )

    correct_edu_create_qps: float = Field(2.0, description="correct_edu create_task quota per key.")
    correct_edu_get_qps: float = Field(2.0, description="correct_edu get_result quota per key.")
    paper_cut_create_qps: float = Field(2.0, description="paper_cut create_task quota per key.")
    paper_cut_get_qps: float = Field(10.0, description="paper_cut get_result quota per key.")
    composition_create_qps: float = Field(2.0, description="composition create_task quota per key.")
    composition_get_qps: float = Field(10.0, description="composition get_result quota per key.")
    formula_qps: float = Field(
        2.0, description="formula calls per second per key (not in the seeds: free-tier figure)."
    )
    custom_ocr_qps: float = Field(
        2.0, description="custom_ocr calls per second per key (not in the seeds: free-tier figure)."
    )
    custom_ocr_endpoint_path: str | None = Field(
        None,
        description="Default URL path of the trained custom OCR model, relative to the base URL "
        "(e.g. rpc/2.0/ai_custom/v1/ocr/my_model); --endpoint-path overrides it.",
    )

    limiter_margin: float = Field(
        0.02, ge=0, description="Slack added to every quota's slot spacing, for network jitter."
    )
    limiter_max_wait_s: float = Field(
        2.5, gt=0, description="Longest a worker sleeps for a quota slot before giving it back."
    )

    poll_policy: Literal["adaptive", "confident", "fixed"] = Field(
        "adaptive",
        description="adaptive: first poll from observed processing times, then backoff, "
        "sooner where a key's get quota has room; confident: the same, but always at "
        "SCANGRADE_POLL_CONFIDENCE and SCANGRADE_POLL_BACKOFF (fewer calls, later results); "
        "fixed: every SCANGRADE_POLL_FIXED_INTERVAL_S (the naive baseline of make bench).",
    )
    poll_confidence: float = Field(
        0.9, gt=0, lt=1, description="Share of tasks the first poll should find finished."
    )
    poll_first_min_s: float = Field(
        5.0,
        description="The seeds' earliest first poll (5 s); two polls of a task are at least "
        "this or 1 s apart, whichever is less.",
    )
    poll_first_max_s: float = Field(
        10.0,
        description="The seeds' latest first poll (10 s); while processing times are unknown "
        "the first poll comes two backoff steps later (26 s).",
    )
    poll_backoff: float = Field(1.6, gt=1, description="Factor between successive poll ages.")
    poll_budget: float = Field(
        1.2,
        ge=1,
        description="get_result calls per task a key with get quota to spare may plan on, and "
        "that the tail's early polls may bring the batches in flight on a key up to (spare get "
        "quota spent on seeing results sooner).",
    )
    poll_fixed_interval_s: float = Field(5.0, description="Poll interval of the fixed policy.")
    poll_max_interval_s: float = Field(60.0, description="Longest wait between two polls.")
    poll_lease_s: float = Field(
        90.0, description="A dispatched poll not done by then is dispatched again."
    )
    poll_give_up_s: float = Field(
        6 * 3600.0, description="A task still unfinished this long after submission fails."
    )

    stale_after_s: float = Field(
        300.0, description="Work in one state longer than this is re-nudged by the reconciler."
    )
    archive_expiry_margin_s: float = Field(
        7200.0,
        description="Result images this close to their signed URL's expiry are archived "
        "ahead of any backlog.",
    )
    reconcile_every_s: float = Field(
        30.0, description="How often beat runs the reconciler that re-nudges lost work."
    )
    full_check_every_s: float = Field(
        3600.0,
        description="How often the reconciler checks every row (scangrade check's findings); "
        "its other passes check only the rows that changed since the pass before.",
    )
    task_time_limit_s: int = Field(
        300, description="Hard time limit of any task (kept below the broker's visibility)."
    )
    visibility_timeout_s: int = Field(
        3600, description="Redis broker visibility timeout; must exceed every time limit."
    )
    max_page_attempts: int = Field(5, description="Transient failures tolerated per page stage.")
    blank_ink_ratio: float = Field(
        7e-5,
        ge=0,
        lt=1,
        description="A page with less ink than this share of its area is blank (a duplex "
        "back): stored but not sent. 0 sends every page.",
    )
    every_frame: bool = Field(
        False,
        description="Send every frame of an animated GIF, WebP or PNG as its own page; by "
        "default an animation is one page, its first frame (multi-page TIFFs always split).",
    )
    read_labels: bool = Field(
        True,
        description="Look for a label's QR code on every page (ingest and the dry run): a "
        "valid one gives the page its student, assignment and page number and turns it "
        "upright. false saves the search's CPU (tens of ms a page without a label).",
    )
    settle_s: float = Field(
        5.0,
        ge=0,
        description="enqueue leaves a file changed less than this many seconds ago (still being "
        "written) with that reason, for the next enqueue to take; 0 takes everything.",
    )
    notify_timeout_s: float = Field(
        10.0, gt=0, description="Timeout of one POST of a batch's summary to its --notify URL."
    )
    notify_horizon_s: float = Field(
        86400.0,
        ge=0,
        description="How long after a batch ended the reconciler keeps sending its summary "
        "to a --notify URL that has not accepted it (down, or answering 5xx).",
    )
    watch_interval_s: float = Field(
        5.0, gt=0, description="How often `scangrade watch` looks for new files in its directory."
    )

    ingest_concurrency: int = Field(2, description="Pool children of the ingest node (per host).")
    submit_concurrency: int = Field(4, description="Pool children of the submit node (per host).")
    poll_concurrency: int = Field(4, description="Pool children of the poll node (per host).")
    persist_concurrency: int = Field(
        4, description="Pool children of the persist node (persist and archive queues, per host)."
    )

    node_hostname: str | None = Field(
        None,
        description="The host part of this host's Celery node names (`submit@<host>`); "
        "default: the machine's hostname. Two `scangrade workers` on one machine need two.",
    )
    beat_lease_s: float = Field(
        10.0,
        ge=2,
        description="Lifetime of the beat leader's lease in Redis, renewed every second: only "
        "the holder's beat sends the periodic tasks; when it dies another host's takes over "
        "within this time.",
    )

    log_json: bool = Field(False, description="Log one JSON object per line.")
    log_level: str = Field("INFO", description="Root log level.")
    metrics_port: int = Field(
        9808,
        ge=0,
        le=65535,
        description="Port of the Prometheus /metrics endpoint of scangrade workers (all its "
        "processes added up); 0: none.",
    )
    metrics_host: str = Field(
        "127.0.0.1", description="Address the /metrics endpoint listens on (0.0.0.0: every one)."
    )
    web_secret: SecretStr | None = Field(
        None,
        description="Key that signs the web app's session cookies (`scangrade serve`), at least "
        "32 characters; required when it listens on an address other than loopback. Unset on "
        "loopback: one is made and kept in $XDG_STATE_HOME/scangrade/web-secret "
        "(~/.local/state), so sessions outlive a restart.",
    )

    def api_keys(self) -> list[ApiKeySettings]:
        """The key pool: ``baidu_keys``, else the single configured pair, else none."""
        if self.baidu_keys:
            return list(self.baidu_keys)
        # An empty value (docker compose's ``${SCANGRADE_BAIDU_API_KEY:-}``) is no key either.
        if not self.baidu_api_key or not self.baidu_secret_key:
            return []
        return [ApiKeySettings(api_key=self.baidu_api_key, secret_key=self.baidu_secret_key)]

    def orphaned_claim_s(self) -> float:
        """Age past which a claim was orphaned (the reconciler's and ``scangrade check``'s).

        No task runs past its hard time limit; ``CLAIM_GRACE_S`` more covers the worker's
        own bookkeeping.
        """
        return self.task_time_limit_s + CLAIM_GRACE_S

    def qps(self, api: Api, op: Operation) -> float:
        """The account-wide quota of one provider operation, in calls per second."""
        try:
            return float(getattr(self, QPS_FIELDS[(api, op)]))
        except KeyError:
            raise ValueError(f"{api} has no {op} operation") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()


def load_env_file(path: Path) -> None:
    """Take the ``SCANGRADE_*`` values of an env file over the environment's, and re-read.

    For ``scangrade --env-file``: the demo writes one that reaches its services. Only this
    process and the ones it starts see the values.
    """
    values = {
        name: value
        for name, value in dotenv_values(path).items()
        if name.startswith("SCANGRADE_") and value is not None
    }
    os.environ.update(values)
    get_settings.cache_clear()
