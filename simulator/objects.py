"""Result objects: their BOS-like paths, and the signer that turns a path into a link.

A marked page or a cut-out question lives at ``<prefix>/<id>/<task_id>/<id>/<uuid>.png``, the
shape of the provider's URLs; the path is derived from the task and the object's id, so a
request for it can be checked without a lookup (``parse_object_path``). Links are signed for
the host the client used (``signing``), at one signing time per answer.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from simulator import signing

OBJECT_PREFIX = "/bos/correct_evaluate_data"
# paper_cut_edu_vlm's enhanced pages; the seeds show no such URL, so the path is made up.
ENHANCE_PREFIX = "/bos/paper_cut_enhance_data"
_PREFIXES = (OBJECT_PREFIX, ENHANCE_PREFIX)


@dataclass(frozen=True)
class UrlSigner:
    """Signs object paths for the host the client used, at one signing time."""

    scheme: str
    host: str
    signed_at: float
    lifetime_s: int

    def url(self, path: str) -> str:
        """A signed URL for ``path``."""
        return signing.signed_url(self.scheme, self.host, path, self.signed_at, self.lifetime_s)


@dataclass(frozen=True)
class ObjectRef:
    """What a ``/bos/...`` path points at: a task and an image id or a question id."""

    task_id: str
    owner_id: str


def object_path(owner_id: str, task_id: str, prefix: str = OBJECT_PREFIX) -> str:
    """BOS-like path ``<prefix>/<id>/<task_id>/<id>/<uuid>.png``, as in the provider's URLs."""
    digest = hashlib.sha256(f"{task_id}/{owner_id}".encode()).digest()
    name = uuid.UUID(bytes=digest[:16], version=4)
    return f"{prefix}/{owner_id}/{task_id}/{owner_id}/{name}.png"


def parse_object_path(path: str) -> ObjectRef | None:
    """The object a path names, or None if no object could ever live there."""
    for prefix in _PREFIXES:
        if not path.startswith(prefix + "/"):
            continue
        parts = path.removeprefix(prefix + "/").split("/")
        if len(parts) != 4 or parts[0] != parts[2]:
            return None
        ref = ObjectRef(task_id=parts[1], owner_id=parts[0])
        return ref if object_path(ref.owner_id, ref.task_id, prefix) == path else None
    return None
