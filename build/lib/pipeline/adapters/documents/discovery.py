"""Find the documents in a nightly scan directory, and say why the other files are not.

The directory is written by people and scanners we do not control, so the walk trusts nothing:
symlinks may point outside it or in circles, names may hold newlines or invalid UTF-8, entries
may be FIFOs, and a scanner may still be writing a file while we look. Every file ends up as
exactly one of: part of a document, a :class:`Rejected` with a reason an operator can act on,
or silently skipped (hidden files, OS thumbnail caches). A folder with no subfolder that holds
no scan (an empty ``7A/zhang/``, or one with only a ``notes.txt``) is listed among the
``empty_folders``: a missing submission, perhaps.

Codes of :class:`Rejected`: ``unsupported_type``, ``empty_file``, ``outside_root``,
``broken_link``, ``unreadable``, ``bad_name``, ``still_being_written``; ``empty_folder``
for the folders.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Final, Literal

from pipeline.errors import BadInput

log = logging.getLogger(__name__)

DocumentKind = Literal["pdf", "image", "image_set"]

PDF_EXTENSIONS: Final = frozenset({".pdf"})
IMAGE_EXTENSIONS: Final = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
# Caches that Windows drops next to scans; never documents, never worth a rejection line.
_JUNK_NAMES: Final = frozenset({"thumbs.db", "ehthumbs.db", "desktop.ini"})
_CHUNK: Final = 1024 * 1024
_DIGITS: Final = re.compile(r"([0-9]+)")


@dataclass(frozen=True)
class DiscoveredDocument:
    """One document to ingest: a PDF, an image (maybe multi-page TIFF) or a folder of pages."""

    rel_path: str
    kind: DocumentKind
    files: tuple[Path, ...]
    size_bytes: int


@dataclass(frozen=True)
class Rejected:
    """A file that can never be ingested, with an operator-readable reason and a stable code."""

    rel_path: str
    reason: str
    code: str


@dataclass(frozen=True)
class DiscoveryResult:
    """Everything found under one root, each list sorted by ``rel_path``."""

    documents: list[DiscoveredDocument] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    #: Folders without subfolders that hold no scan, nor one still being written.
    empty_folders: list[Rejected] = field(default_factory=list)


def natural_key(name: str) -> tuple[tuple[int, str], ...]:
    """Sort key putting "page2" before "page10", as a person numbering pages expects."""
    parts = _DIGITS.split(name.casefold())
    # split() alternates text and digit runs, so equal positions always hold the same kind.
    key = tuple((int(part), part) if i % 2 else (0, part) for i, part in enumerate(parts))
    return (*key, (0, name))


def discover(root: Path, *, settle_s: float = 0.0) -> DiscoveryResult:
    """Walk ``root`` and classify every entry; raise BadInput only if root is not a directory.

    A file changed less than ``settle_s`` seconds ago may be half written (a scanner or a
    copy still at work), and so may an image folder with such a file: they are rejected as
    ``still_being_written`` for a later run to take once they have settled.
    """
    try:
        real_root = root.resolve(strict=True)
    except OSError as e:
        raise BadInput(
            f"scan directory {root} cannot be opened ({e})", code="not_a_directory"
        ) from e
    if not real_root.is_dir():
        raise BadInput(f"scan directory {root} is not a directory", code="not_a_directory")
    walk = _Walk(real_root, settle_s)
    walk.run()
    documents = _without_duplicates(walk.candidates)
    log.info(
        "discovered %d documents and %d rejected files under %s",
        len(documents),
        len(walk.rejected),
        root,
    )
    return DiscoveryResult(
        documents=sorted(documents, key=lambda d: d.rel_path),
        rejected=sorted(walk.rejected, key=lambda r: r.rel_path),
        empty_folders=sorted(walk.empty_folders, key=lambda r: r.rel_path),
    )


def sha256_files(files: Sequence[Path]) -> str:
    """Content identity of a document: one file's sha256, or a digest of the members' digests.

    Hashing digests rather than raw concatenated bytes keeps page boundaries significant.
    """
    if not files:
        raise ValueError("sha256_files needs at least one file")
    if len(files) == 1:
        return _sha256_file(files[0])
    combined = hashlib.sha256()
    for path in files:
        combined.update(f"{_sha256_file(path)}\n".encode("ascii"))
    return combined.hexdigest()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except OSError as e:
        raise BadInput(f"cannot read {path} ({e.strerror or e})", code="unreadable") from e
    return digest.hexdigest()


@dataclass(frozen=True)
class _Candidate:
    document: DiscoveredDocument
    identities: tuple[tuple[int, int], ...]
    via_link: bool


@dataclass(frozen=True)
class _Entry:
    """A directory entry with symlinks resolved: what it is and what it points at."""

    path: Path
    rel: PurePosixPath
    info: os.stat_result
    via_link: bool

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.info.st_mode)

    @property
    def identity(self) -> tuple[int, int]:
        return (self.info.st_dev, self.info.st_ino)

    @property
    def suffix(self) -> str:
        return self.path.suffix.lower()


def _without_duplicates(candidates: list[_Candidate]) -> list[DiscoveredDocument]:
    """Keep one document per underlying file, preferring its real path over a symlink's."""
    taken: set[tuple[int, int]] = set()
    kept = []
    for candidate in sorted(candidates, key=lambda c: (c.via_link, c.document.rel_path)):
        if taken.intersection(candidate.identities):
            log.info(
                "skipping %r: its files are already part of another document",
                candidate.document.rel_path,
            )
            continue
        taken.update(candidate.identities)
        kept.append(candidate.document)
    return kept


class _Walk:
    """One walk of the tree; directories reached through symlinks wait for the real tree."""

    def __init__(self, real_root: Path, settle_s: float) -> None:
        self.real_root = real_root
        self.settle_s = settle_s
        self.started = time.time()
        self.candidates: list[_Candidate] = []
        self.rejected: list[Rejected] = []
        self.empty_folders: list[Rejected] = []
        self._seen_dirs: set[tuple[int, int]] = set()
        self._linked_dirs: list[_Entry] = []

    def run(self) -> None:
        root_stat = self.real_root.stat()
        self._walk_dir(_Entry(self.real_root, PurePosixPath(), root_stat, via_link=False))
        while self._linked_dirs:
            self._walk_dir(self._linked_dirs.pop(0))

    def reject(self, rel: PurePosixPath, reason: str, code: str) -> None:
        self.rejected.append(Rejected(_printable(rel), reason, code))

    def _walk_dir(self, directory: _Entry) -> None:
        if directory.identity in self._seen_dirs:
            return  # reached again through a symlink (or a loop): its files are known
        self._seen_dirs.add(directory.identity)
        entries = self._list(directory)
        if entries is None:
            return
        files = [e for e in entries if not e.is_dir]
        before = (len(self.candidates), self._waiting())
        if directory.rel.parts and _is_image_set(entries):
            self._add_image_set(directory, files)
        else:
            for entry in files:
                self._add_file(entry)
        leaf = not any(entry.is_dir for entry in entries)
        if directory.rel.parts and leaf and before == (len(self.candidates), self._waiting()):
            self._empty(directory, files)
        for entry in entries:
            if entry.is_dir and entry.via_link and not directory.via_link:
                self._linked_dirs.append(entry)
            elif entry.is_dir:
                self._walk_dir(entry)

    def _waiting(self) -> int:
        return sum(1 for r in self.rejected if r.code == "still_being_written")

    def _empty(self, directory: _Entry, files: list[_Entry]) -> None:
        """A folder with no subfolder and no scan in it: missing work, listed with its content."""
        if files:
            names = ", ".join(_printable(PurePosixPath(entry.rel.name)) for entry in files[:3])
            more = f" and {len(files) - 3} more" if len(files) > 3 else ""
            what = f"holds no scans, only {len(files)} other file(s) ({names}{more})"
        else:
            what = "is empty"
        self.empty_folders.append(
            Rejected(
                _printable(directory.rel),
                f"folder {what}: a missing submission? Put its scans here and enqueue again",
                "empty_folder",
            )
        )

    def _list(self, directory: _Entry) -> list[_Entry] | None:
        """Visible entries, links resolved, sorted; problems rejected on the way."""
        try:
            with os.scandir(directory.path) as scan:
                names = sorted((d.name for d in scan), key=natural_key)
        except OSError as e:
            self.reject(directory.rel, f"cannot list directory ({e.strerror or e})", "unreadable")
            return None
        entries = []
        for name in names:
            if name.startswith(".") or name.casefold() in _JUNK_NAMES:
                continue
            entry = self._resolve(directory, name)
            if entry is not None:
                entries.append(entry)
        return entries

    def _resolve(self, directory: _Entry, name: str) -> _Entry | None:
        path, rel = directory.path / name, directory.rel / name
        if not _is_utf8(name):
            self.reject(rel, "name is not valid UTF-8; rename the file", "bad_name")
            return None
        try:
            is_link = path.is_symlink()
            if is_link and not Path(os.path.realpath(path)).is_relative_to(self.real_root):
                self.reject(
                    rel,
                    f"symlink points outside the scan directory ({os.readlink(path)})",
                    "outside_root",
                )
                return None
            info = path.stat()
        except OSError as e:
            self.reject(
                rel, f"symlink target is missing or loops ({e.strerror or e})", "broken_link"
            )
            return None
        return _Entry(path, rel, info, via_link=directory.via_link or is_link)

    def _add_file(self, entry: _Entry) -> None:
        kind = self._file_kind(entry)
        if kind is not None:
            document = DiscoveredDocument(
                entry.rel.as_posix(), kind, (entry.path,), entry.info.st_size
            )
            self.candidates.append(_Candidate(document, (entry.identity,), entry.via_link))

    def _add_image_set(self, directory: _Entry, files: list[_Entry]) -> None:
        # A page still arriving means the folder is not complete: take all of it, or none.
        if self._is_unsettled(directory, newest=max([directory, *files], key=_changed_at)):
            return
        members = [entry for entry in files if self._file_kind(entry) is not None]
        if not members:
            return
        document = DiscoveredDocument(
            directory.rel.as_posix(),
            "image_set",
            tuple(entry.path for entry in members),
            sum(entry.info.st_size for entry in members),
        )
        identities = tuple(entry.identity for entry in members)
        self.candidates.append(_Candidate(document, identities, directory.via_link))

    def _is_unsettled(self, entry: _Entry, *, newest: _Entry | None = None) -> bool:
        """Reject ``entry`` if it changed (a folder: ``newest`` of it and its files) too lately.

        A change time in the future (clocks that disagree) counts as now: waiting is safer
        than taking a file half written.
        """
        newest = newest or entry
        age = self.started - _changed_at(newest)
        if self.settle_s <= 0 or age >= self.settle_s:
            return False
        if newest is not entry:
            what = f"{_printable(PurePosixPath(newest.rel.name))} modified"
        elif entry.is_dir:
            what = "a file added or removed"
        else:
            what = "modified"
        self.reject(
            entry.rel,
            f"still being written ({what} {max(age, 0.0):.1f} s ago); "
            "enqueue again once the scanner is done",
            "still_being_written",
        )
        return True

    def _file_kind(self, entry: _Entry) -> Literal["pdf", "image"] | None:
        """The file's document kind, or None after recording why it cannot be one."""
        if not stat.S_ISREG(entry.info.st_mode):
            self.reject(entry.rel, f"not a regular file ({_file_type(entry.info)})", "unreadable")
            return None
        if entry.suffix in PDF_EXTENSIONS:
            kind: Literal["pdf", "image"] = "pdf"
        elif entry.suffix in IMAGE_EXTENSIONS:
            kind = "image"
        else:
            what = f"{entry.suffix!r} files" if entry.suffix else "files without an extension"
            self.reject(
                entry.rel, f"{what} are not scans (expected PDF or image)", "unsupported_type"
            )
            return None
        if self._is_unsettled(entry):
            return None  # before the size check: a scanner creates the file, then fills it
        if entry.info.st_size == 0:
            self.reject(entry.rel, "file is empty (0 bytes)", "empty_file")
            return None
        try:
            os.close(os.open(entry.path, os.O_RDONLY | os.O_NONBLOCK))
        except OSError as e:
            self.reject(entry.rel, f"cannot open file ({e.strerror or e})", "unreadable")
            return None
        return kind


def _changed_at(entry: _Entry) -> float:
    """When the entry last changed: ctime too, which copies that keep the mtime still update."""
    return max(entry.info.st_mtime, entry.info.st_ctime)


def _is_image_set(entries: list[_Entry]) -> bool:
    """A folder holding nothing but image files is one document whose pages they are."""
    return bool(entries) and all(
        stat.S_ISREG(e.info.st_mode) and e.suffix in IMAGE_EXTENSIONS for e in entries
    )


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(rel: PurePosixPath) -> str:
    """rel_path safe to store: undecodable bytes of a bad name shown as escapes."""
    return rel.as_posix().encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _file_type(info: os.stat_result) -> str:
    mode = info.st_mode
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a plain file"
