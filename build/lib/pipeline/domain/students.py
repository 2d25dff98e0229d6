"""Whose pages are they: a student and a class for each document, found, never guessed.

A page's own label comes first (``pipeline.domain.labels``: its QR code names the student,
the assignment and the page, and ingest reads it); for pages without one, three sources,
the first that applies wins:

1. **the manifest** (``--manifest FILE.csv``, or ``manifest.csv`` at the top of the
   directory): one row per file or folder, ``file,student_id,name,class,assignment``;
   a row naming a folder covers every document below it (the deepest row wins);
2. **the directory convention** ``<class>/<student>/…``: a document at least two folders
   deep, or an image-set folder ``<class>/<student>``;
3. **a roster split** (``--pages-per-student N --roster FILE.csv``) for a class scanned as
   one file: pages 1..N are the roster's first student, N+1..2N the second, in scan order.
   The file's class is its folder (``7A/scan.pdf``) or its name (``7A.pdf``); a roster of
   one class, or without a class column, applies to every such file.

A document none of them covers is *unmatched*: listed for the operator with the reason,
sent all the same (its results are not lost), and owned by nobody in the views. A manifest
row that names no document is listed too.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final, TypeVar

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import Document, Page, SchoolClass, Student
from pipeline.errors import ConfigurationError

STUDENT_MANIFEST_NAME: Final = "manifest.csv"
MANIFEST_COLUMNS: Final = ("file", "student_id", "name", "class", "assignment")
ROSTER_COLUMNS: Final = ("student_id", "name", "class")
_REQUIRED: Final = {"manifest": ("file", "student_id", "class"), "roster": ("student_id",)}
# Spreadsheets save CSV as UTF-8 (with or without a BOM) or, in Chinese locales, GB18030.
_ENCODINGS: Final = ("utf-8-sig", "gb18030")
_T = TypeVar("_T")


@dataclass(frozen=True)
class Person:
    """A student as a manifest, a roster or a folder names them."""

    class_name: str
    code: str
    name: str


@dataclass(frozen=True)
class Owner:
    """Who a document belongs to, and how that was found.

    ``student`` for a whole document; ``roster`` (scan order) with ``pages_per_student`` for
    a class scanned as one file; neither for an unmatched document (``reason`` says why).
    """

    source: str | None
    student: Person | None = None
    class_name: str | None = None
    assignment: str | None = None
    roster: tuple[Person, ...] = ()
    pages_per_student: int | None = None
    reason: str | None = None

    def student_of_page(self, page_no: int) -> Person | None:
        """The page's student: the document's, or the roster's by position; None past it."""
        return page_student(self.student, self.roster, self.pages_per_student, page_no)


@dataclass(frozen=True)
class ManifestRow:
    """One line of the student manifest."""

    line: int
    path: PurePosixPath
    person: Person
    assignment: str | None


@dataclass(frozen=True)
class Students:
    """The batch's sources of students, read and checked before anything is recorded."""

    rows: tuple[ManifestRow, ...] = ()
    roster: tuple[Person, ...] = ()
    pages_per_student: int | None = None
    manifest: Path | None = None
    roster_file: Path | None = None

    def owner(self, rel_path: str, kind: str = "pdf") -> Owner:
        """Who the document at ``rel_path`` (a pdf, image or image_set) belongs to.

        An unmatched Owner says why not. Only a PDF or a top-level folder of images can be a
        whole class's scans, split by the roster.
        """
        path = PurePosixPath(rel_path)
        rows = self._manifest_rows(path, kind)
        if len({row.person for row in rows}) > 1:
            lines = ", ".join(str(row.line) for row in rows)
            return Owner(
                None,
                reason=f"the manifest's lines {lines} give different students for files of "
                "this one folder of images (one document): name the folder, or give each "
                "student a folder of their own",
            )
        if rows:
            row = rows[0]
            return Owner("manifest", row.person, row.person.class_name, row.assignment)
        parts = path.parts
        if len(parts) >= 3 or (kind == "image_set" and len(parts) == 2):
            return Owner("directory", Person(parts[0], parts[1], parts[1]), parts[0])
        whole_class = kind == "pdf" or (kind == "image_set" and len(parts) == 1)
        if self.pages_per_student is not None and whole_class:
            return self._roster_owner(path)
        return Owner(None, reason=self._why_unmatched())

    def folder_owner(self, rel_path: str) -> Owner:
        """Whose folder ``rel_path`` is (``<class>/<student>``, or a manifest row naming it)."""
        return self.owner(rel_path, "image_set")

    def unused_rows(self, documents: Iterable[tuple[str, str]]) -> list[ManifestRow]:
        """Manifest rows that name no (rel_path, kind) document: a typo, a file not scanned."""
        used = {
            row.line
            for rel_path, kind in documents
            for row in self._manifest_rows(PurePosixPath(rel_path), kind, deepest=False)
        }
        return [row for row in self.rows if row.line not in used]

    def _manifest_rows(
        self, path: PurePosixPath, kind: str, *, deepest: bool = True
    ) -> list[ManifestRow]:
        """The rows that give the document its student.

        The deepest row naming the document or a folder above it; for a folder of images,
        the rows naming its files instead, if any.
        """
        if kind == "image_set":
            members = [row for row in self.rows if row.path.parent == path]
            if members:
                return members
        covering = [row for row in self.rows if row.path == path or row.path in path.parents]
        if not deepest or not covering:
            return covering
        return [max(covering, key=lambda row: len(row.path.parts))]

    def _roster_owner(self, path: PurePosixPath) -> Owner:
        classes = {person.class_name for person in self.roster}
        wanted = path.parts[0] if len(path.parts) == 2 else path.stem if path.suffix else path.name
        if classes == {""}:  # a roster without classes: the file names its class
            members = tuple(Person(wanted, p.code, p.name) for p in self.roster)
            return Owner(
                "roster",
                class_name=wanted,
                roster=members,
                pages_per_student=self.pages_per_student,
            )
        if wanted not in classes:
            if len(classes) != 1:
                return Owner(
                    None,
                    reason=f"class {wanted!r} (from its folder or name) has no students in "
                    f"the roster {self.roster_file}; roster classes: {', '.join(sorted(classes))}",
                )
            (wanted,) = classes
        members = tuple(person for person in self.roster if person.class_name == wanted)
        return Owner(
            "roster", class_name=wanted, roster=members, pages_per_student=self.pages_per_student
        )

    def _why_unmatched(self) -> str:
        where = "not under <class>/<student>/"
        if self.manifest is not None:
            where = f"not in the manifest {self.manifest.name}, and {where}"
        if self.pages_per_student is not None:
            where += ", and not a PDF or folder of a whole class for the roster"
        return f"no student: {where}"


def read_students(
    root: Path,
    *,
    manifest: Path | None = None,
    roster: Path | None = None,
    pages_per_student: int | None = None,
) -> Students:
    """The batch's students: the manifest (given, or ``manifest.csv`` in ``root``), the roster.

    Raises ConfigurationError naming the file and line of every mistake found.
    """
    if (roster is None) != (pages_per_student is None):
        raise ConfigurationError(
            "--pages-per-student and --roster go together: the roster says whose the "
            "pages are, in scan order"
        )
    if pages_per_student is not None and pages_per_student < 1:
        raise ConfigurationError(f"--pages-per-student must be at least 1, not {pages_per_student}")
    found = root / STUDENT_MANIFEST_NAME
    path = manifest or (found if found.is_file() else None)
    rows = tuple(_manifest_rows(path)) if path is not None else ()
    people = tuple(_roster(roster)) if roster is not None else ()
    return Students(rows, people, pages_per_student, path, roster)


def _manifest_rows(path: Path) -> Iterable[ManifestRow]:
    seen: dict[PurePosixPath, int] = {}
    for line, record in _records(path, "manifest", MANIFEST_COLUMNS):
        raw = record["file"].replace("\\", "/").strip("/")
        rel = PurePosixPath(raw)
        if not raw or rel.is_absolute() or ".." in rel.parts:
            raise ConfigurationError(
                f"{path}, line {line}: file {record['file']!r} must be a path inside the "
                "scan directory"
            )
        if rel in seen:
            raise ConfigurationError(
                f"{path}, line {line}: {raw!r} is already given on line {seen[rel]}; "
                "a file belongs to one student"
            )
        seen[rel] = line
        person = Person(
            record["class"], record["student_id"], record["name"] or record["student_id"]
        )
        yield ManifestRow(line, rel, person, record.get("assignment") or None)


def read_roster(path: Path) -> tuple[Person, ...]:
    """The roster's students in order (``scangrade labels``); class "" where it names none.

    Raises ConfigurationError naming the file and line of every mistake found.
    """
    return tuple(_roster(path))


def _roster(path: Path) -> Iterable[Person]:
    """The roster's students in scan order; without classes, class "" (the file's own)."""
    seen: dict[tuple[str, str], int] = {}
    classes: set[bool] = set()
    for line, record in _records(path, "roster", ROSTER_COLUMNS):
        class_name = record.get("class", "")
        classes.add(bool(class_name))
        if len(classes) > 1:
            raise ConfigurationError(
                f"{path}, line {line}: give every student's class, or none (the scanned "
                "file's folder or name is then the class)"
            )
        key = (class_name, record["student_id"])
        if key in seen:
            raise ConfigurationError(
                f"{path}, line {line}: student {key[1]!r} of class {class_name!r} is already "
                f"on line {seen[key]}"
            )
        seen[key] = line
        yield Person(class_name, record["student_id"], record.get("name") or record["student_id"])


def _records(path: Path, what: str, columns: Sequence[str]) -> Iterable[tuple[int, dict[str, str]]]:
    """The CSV's rows as {column: stripped value}, with their line numbers; blank rows skipped."""
    text = _text(path)
    reader = csv.DictReader(io.StringIO(text), dialect=_dialect(text))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    unknown = [name for name in header if name not in columns]
    missing = [name for name in _REQUIRED[what] if name not in header]
    if unknown or missing:
        raise ConfigurationError(
            f"{what} {path}: the header must name the columns {', '.join(columns)} "
            f"({', '.join(_REQUIRED[what])} required); "
            + (f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(unknown)}")
        )
    reader.fieldnames = header
    for record in reader:
        line = reader.line_num
        if None in record:
            raise ConfigurationError(f"{path}, line {line}: more fields than the header names")
        values = {key: (value or "").strip() for key, value in record.items()}
        if not any(values.values()):
            continue
        empty = [name for name in _REQUIRED[what] if not values.get(name)]
        if empty:
            raise ConfigurationError(f"{path}, line {line}: {', '.join(empty)} is empty")
        yield line, values


def _text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigurationError(f"cannot read {path}: {e.strerror}") from e
    for encoding in _ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ConfigurationError(f"{path} is neither UTF-8 nor GB18030 text: save it as UTF-8 CSV")


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    """Commas, or the semicolons and tabs some spreadsheets write."""
    try:
        return csv.Sniffer().sniff(text.splitlines()[0] if text else "", delimiters=",;\t")
    except csv.Error:
        return csv.excel


def student_ids(session: Session, people: Iterable[Person]) -> dict[Person, int]:
    """The rows of ``people`` (and of their classes), created when new; a given name wins."""
    ids: dict[Person, int] = {}
    for person in people:
        if person in ids:
            continue
        class_id = class_id_of(session, person.class_name)
        stmt = insert(Student).values(class_id=class_id, code=person.code, name=person.name)
        # A folder-named student keeps its name; a manifest or roster may give the real one.
        keep_given = Student.name == Student.code
        ids[person] = session.execute(
            stmt.on_conflict_do_update(
                index_elements=["class_id", "code"],
                set_={"name": stmt.excluded.name},
                where=keep_given & (stmt.excluded.name != stmt.excluded.code),
            ).returning(Student.id)
        ).scalar() or _existing_student(session, class_id, person.code)
    return ids


def class_id_of(session: Session, name: str) -> int:
    """The class row named ``name``, created when new."""
    session.execute(insert(SchoolClass).values(name=name).on_conflict_do_nothing())
    found = session.scalar(select(SchoolClass.id).where(SchoolClass.name == name))
    assert found is not None
    return found


def _existing_student(session: Session, class_id: int, code: str) -> int:
    found = session.scalar(
        select(Student.id).where(Student.class_id == class_id, Student.code == code)
    )
    assert found is not None
    return found


def page_student(
    student: _T | None, roster: Sequence[_T], pages_per_student: int | None, page_no: int
) -> _T | None:
    """Whose page ``page_no`` (1-based) is: the document's student, else the roster's.

    Pages past the roster's last student belong to nobody: listed, never guessed.
    """
    if student is not None or pages_per_student is None:
        return student
    index = (page_no - 1) // pages_per_student
    return roster[index] if index < len(roster) else None


def record_owner(session: Session, document_id: int, owner: Owner) -> bool:
    """Write ``owner`` on the document, and on its pages if it already has some.

    Pages made later take their student from the document at ingest (``page_student``), so
    a corrected manifest or roster, enqueued again, corrects every page either way; a page
    whose label named its student keeps that one. A run
    that finds no owner (say, without the roster this time) keeps the earlier one. Returns
    whether the document has an owner now.
    """
    if owner.source is None:
        earlier = session.scalar(select(Document.owner_source).where(Document.id == document_id))
        return earlier is not None
    people = [owner.student] if owner.student is not None else list(owner.roster)
    ids = student_ids(session, people)
    class_id = class_id_of(session, owner.class_name) if owner.class_name else None
    student_id = ids[owner.student] if owner.student is not None else None
    roster = [ids[person] for person in owner.roster]
    session.execute(
        update(Document)
        .where(Document.id == document_id)
        .values(
            class_id=class_id,
            student_id=student_id,
            assignment=owner.assignment,
            owner_source=owner.source,
            pages_per_student=owner.pages_per_student,
            roster=roster,
        )
    )
    # A labelled page's student is its label's: a manifest or roster never overrides it.
    pages = session.execute(
        select(Page.id, Page.page_no).where(
            Page.document_id == document_id, Page.label_code.is_(None)
        )
    )
    for page_id, page_no in pages.all():
        session.execute(
            update(Page)
            .where(Page.id == page_id)
            .values(student_id=page_student(student_id, roster, owner.pages_per_student, page_no))
        )
    return True
