"""The key that signs the web app's session cookies.

Given as ``SCANGRADE_WEB_SECRET``, or, for a server only this machine can reach (loopback),
made once and kept in a file of the user's state directory, so that a restart does not sign
every teacher out. A server other machines can reach never runs on a key nobody chose.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
from pathlib import Path
from typing import Final

from pipeline.errors import NoWebSecret
from pipeline.settings import Settings

MIN_LENGTH: Final = 32
FILE_NAME: Final = "web-secret"


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach ``host`` (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def state_dir() -> Path:
    """``$XDG_STATE_HOME/scangrade`` (``~/.local/state/scangrade``): where the kept key lives."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "scangrade"


def web_secret(settings: Settings, host: str, kept_in: Path | None = None) -> str:
    """The signing key for a server listening on ``host``; raises ``NoWebSecret``."""
    given = settings.web_secret.get_secret_value() if settings.web_secret else ""
    if given:
        if len(given) < MIN_LENGTH:
            raise NoWebSecret(
                f"SCANGRADE_WEB_SECRET is {len(given)} characters long: give {MIN_LENGTH} or "
                "more (python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return given
    if not is_loopback(host):
        raise NoWebSecret(
            f"SCANGRADE_WEB_SECRET is not set: scangrade serve signs its session cookies with "
            f"it, and must be given one to listen on {host} (python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'); on 127.0.0.1 it makes one itself"
        )
    return kept_secret((kept_in or state_dir()) / FILE_NAME)


def kept_secret(path: Path) -> str:
    """The key kept at ``path``, made (readable by this user alone) if there is none yet."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        # Written whole beside it, then linked into place: two servers starting at once
        # both end up with the one that was linked first, never with a half-written file.
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as out:
            out.write(secrets.token_urlsafe(48))
        try:
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            draft.unlink()
    value = path.read_text(encoding="ascii").strip()
    if len(value) < MIN_LENGTH:
        raise NoWebSecret(f"{path} holds no usable key: remove it, and a new one is made")
    return value
