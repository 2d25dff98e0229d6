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

import socket
from pathlib import Path


def _address(hex_address: str) -> str:
    """An address of /proc/net/tcp{,6}: little-endian 32-bit words, in hex."""
    ip, _, port = hex_address.partition(":")
    raw = bytes.fromhex(ip)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(words) == 4 else socket.AF_INET6
    return f"{socket.inet_ntop(family, words)} {int(port, 16)}"


def listening(process_group: int) -> list[str]:
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
