"""The object store (S3, MinIO, moto): the only module that talks to boto3.

Keys say batch, document and page by id, never a student's name or a file name, so a bucket
listing leaks nothing personal. Every object is private (no ACL grants, public access blocked
where the store supports it). Puts and gets, twelve calls a page, are signed requests of their
own (``s3_requests``) with the credentials, region and endpoint boto3 resolved: a third of
boto3's CPU per call.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

import boto3
import botocore.session
import httpx
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

from pipeline.adapters.s3_requests import ATTEMPTS, NoCredentials, S3Failure, SignedS3
from pipeline.errors import ScangradeError, StoreRefused, Transient
from pipeline.settings import Settings, get_settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import PublicAccessBlockConfigurationTypeDef

log = logging.getLogger(__name__)


_CONNECT_TIMEOUT_S = 5.0
_READ_TIMEOUT_S = 60.0


class ObjectMissing(ScangradeError):
    """The key is not in the bucket."""


# Error codes S3 (and MinIO, moto) answer when the credentials are wrong or lack a right.
_REFUSED_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "403"}
)
_NO_CREDENTIALS = (
    "S3 has no credentials: set SCANGRADE_S3_ACCESS_KEY_ID and SCANGRADE_S3_SECRET_ACCESS_KEY "
    "(or configure boto3's usual credential chain)"
)


def store_error(what: str, error: ClientError | BotoCoreError) -> ScangradeError:
    """The scangrade error for a failed S3 call: refused credentials, or a passing fault."""
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return StoreRefused(f"{what}: {_NO_CREDENTIALS}")
    code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
    return _refused_or_fault(what, code, _describe(error))


def _request_error(what: str, failure: S3Failure) -> ScangradeError:
    """The scangrade error for a failed signed request, as :func:`store_error` for boto3's."""
    if isinstance(failure, NoCredentials):
        return StoreRefused(f"{what}: {_NO_CREDENTIALS}")
    return _refused_or_fault(what, failure.code, str(failure))


def _refused_or_fault(what: str, code: str | None, described: str) -> ScangradeError:
    if code in _REFUSED_CODES:
        return StoreRefused(
            f"{what}: S3 refused the credentials ({described}); check "
            "SCANGRADE_S3_ACCESS_KEY_ID and SCANGRADE_S3_SECRET_ACCESS_KEY"
        )
    return Transient(f"{what} failed: {described}")


@dataclass(frozen=True)
class StoredObject:
    """What was written: enough to record an artifact row."""

    key: str
    sha256: str
    size: int
    content_type: str


PUBLIC_ACCESS_BLOCKED: Final[PublicAccessBlockConfigurationTypeDef] = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
"""Every switch of the bucket's public access block on: objects stay private whatever ACL."""


def original_key(batch_id: int, document_id: int, index: int, suffix: str) -> str:
    """Where an original scanned file is kept (image sets have several, by index)."""
    return f"batches/{batch_id}/documents/{document_id}/original/{index:04d}{suffix.lower()}"


def page_key(batch_id: int, document_id: int, page_no: int, suffix: str) -> str:
    """Where the normalised page image sent to the provider is kept."""
    return f"batches/{batch_id}/documents/{document_id}/pages/{page_no:04d}/page{suffix}"


def result_prefix(batch_id: int, document_id: int, page_no: int, task_id: str) -> str:
    """Folder of one provider task's answer and result images."""
    return f"batches/{batch_id}/documents/{document_id}/pages/{page_no:04d}/tasks/{task_id}"


class ObjectStore:
    """Puts and gets whole objects, translating boto3's errors into scangrade's."""

    def __init__(self, settings: Settings) -> None:
        access = settings.s3_access_key_id
        secret = settings.s3_secret_access_key
        self.bucket = settings.s3_bucket
        self.endpoint = settings.s3_endpoint_url or "AWS S3"
        core = botocore.session.get_session()
        session = boto3.session.Session(
            aws_access_key_id=access.get_secret_value() if access else None,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            region_name=settings.s3_region,
            botocore_session=core,
        )
        self._client: S3Client = session.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            config=Config(
                connect_timeout=_CONNECT_TIMEOUT_S,
                read_timeout=_READ_TIMEOUT_S,
                retries={"max_attempts": ATTEMPTS, "mode": "standard"},
                s3={"addressing_style": "path"},
            ),
        )
        self._requests = SignedS3(
            self._client.meta.endpoint_url,
            self._client.meta.region_name,
            session.get_credentials(),
            httpx.Timeout(_READ_TIMEOUT_S, connect=_CONNECT_TIMEOUT_S),
            _verify(core.get_config_variable("ca_bundle")),
        )

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing, and keep it private."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket"}:
                raise store_error(f"S3 bucket {self.bucket} at {self.endpoint}", e) from e
            self._call(self._client.create_bucket, Bucket=self.bucket)
        except BotoCoreError as e:
            raise store_error(f"S3 bucket {self.bucket} at {self.endpoint}", e) from e
        self._block_public_access()

    def _block_public_access(self) -> None:
        """On S3, no ACL or bucket policy can then make an object public.

        MinIO has no public access block (it answers NotImplemented): its buckets are
        private unless an operator gives them an anonymous policy, so there is nothing to do.
        """
        try:
            self._client.put_public_access_block(
                Bucket=self.bucket, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCKED
            )
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "NotImplemented":
                raise store_error("S3 put_public_access_block", e) from e
            log.info(
                "bucket %s: the store has no public access block (MinIO); its objects stay "
                "private as long as no bucket policy grants anonymous access",
                self.bucket,
            )
        except BotoCoreError as e:
            raise store_error("S3 put_public_access_block", e) from e

    def put(self, key: str, data: bytes, content_type: str) -> StoredObject:
        """Write an object (idempotent: the same key and bytes give the same object)."""
        digest = hashlib.sha256(data).hexdigest()
        headers = {"content-type": content_type, "x-amz-meta-sha256": digest}
        try:
            self._requests.put(self.bucket, key, data, digest, headers)
        except S3Failure as e:
            raise _request_error("S3 put_object", e) from e
        return StoredObject(key=key, sha256=digest, size=len(data), content_type=content_type)

    def get(self, key: str) -> bytes:
        """Read a whole object."""
        try:
            return self._requests.get(self.bucket, key)
        except S3Failure as e:
            if e.code in {"NoSuchKey", "404"}:
                raise ObjectMissing(f"s3://{self.bucket}/{key} does not exist") from e
            raise _request_error(f"S3 get of {key}", e) from e

    def keys(self, prefix: str = "") -> list[str]:
        """Every key under a prefix (for tests, replays and the demo summary)."""
        paginator = self._client.get_paginator("list_objects_v2")
        found: list[str] = []
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                found.extend(item["Key"] for item in page.get("Contents", []))
        except (ClientError, BotoCoreError) as e:
            raise store_error(f"S3 listing of {prefix or 'the bucket'}", e) from e
        return found

    def _call(self, method: Any, **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except (ClientError, BotoCoreError) as e:
            raise store_error(f"S3 {method.__name__}", e) from e


def _verify(ca_bundle: str | None) -> ssl.SSLContext | bool:
    """What checks the store's certificate: boto3's CA bundle (``AWS_CA_BUNDLE``), if set."""
    return ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True


def _describe(error: Exception) -> str:
    if isinstance(error, ClientError):
        err = error.response.get("Error", {})
        return f"{err.get('Code', '?')} {err.get('Message', '')}".strip()
    return type(error).__name__


@lru_cache(maxsize=1)
def get_store() -> ObjectStore:
    """The process's object store client (boto3 clients are thread-safe)."""
    return ObjectStore(get_settings())
