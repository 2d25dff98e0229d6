"""The label's code: whose page it is, of which assignment, and which page, checked.

A label (a sticker, or a header strip printed on the sheet) carries a QR code whose text is

    SG1|<class>|<student_id>|<assignment>|<page>/<pages>|<crc>

``SG1`` is the format and its version; class and student id are the roster's (the student's
key: ``students`` is unique on class and code); ``<page>/<pages>`` says which page of how
many the student hands in, so a last page that never came is known missing; ``<crc>`` is the
CRC-32 of everything before it (UTF-8), as eight upper-case hex digits. A text that is not
exactly that (another QR code on the worksheet, a misread that still passed the code's own
error correction, a label of a format to come) is refused with the reason, never guessed
from: the page then keeps the student its folder, manifest or roster gives.

The text is kept short so that the code stays at version 4 or below (33 modules) at error
correction M: printed 12 mm wide, a module is then at least 0.36 mm, three pixels at 200 dpi.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from pipeline.domain.students import Person
from pipeline.errors import ConfigurationError

FORMAT: Final = "SG1"
SEPARATOR: Final = "|"
MAX_PAGES: Final = 99
MAX_PAYLOAD_BYTES: Final = 62
"""What a version-4 QR code holds at error correction M (bytes mode): longer would not fit."""
_FIELDS: Final = 6


@dataclass(frozen=True)
class Label:
    """What one label says: a student's page of an assignment."""

    class_name: str
    student_code: str
    assignment: str
    page: int
    pages: int

    @property
    def person(self) -> Person:
        """The student, as the student tables know them.

        Named by their id until a roster or manifest gives the name.
        """
        return Person(self.class_name, self.student_code, self.student_code)

    @property
    def key(self) -> tuple[str, str, str]:
        """The student's assignment this page is one of: class, student id, assignment."""
        return (self.class_name, self.student_code, self.assignment)

    def __str__(self) -> str:
        return f"{self.class_name}/{self.student_code} {self.assignment} p{self.page}/{self.pages}"


@dataclass(frozen=True)
class Refused:
    """A code that is not a valid label, and why: the page is treated as unlabelled."""

    reason: str


def checksum(text: str) -> str:
    """CRC-32 of ``text`` (UTF-8) as eight upper-case hex digits."""
    return f"{zlib.crc32(text.encode('utf-8')):08X}"


def encode(label: Label) -> str:
    """The text of the label's code; ConfigurationError if it cannot be one."""
    problem = _field_problem(label)
    if problem is not None:
        raise ConfigurationError(f"label {label}: {problem}")
    body = SEPARATOR.join(
        (
            FORMAT,
            label.class_name,
            label.student_code,
            label.assignment,
            f"{label.page}/{label.pages}",
        )
    )
    text = f"{body}{SEPARATOR}{checksum(body)}"
    size = len(text.encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        raise ConfigurationError(
            f"label {label}: its code would hold {size} bytes, over the {MAX_PAYLOAD_BYTES} "
            "that stay readable at 12 mm; shorten the assignment's name (or the class's)"
        )
    return text


def decode(data: bytes | str) -> Label | Refused:
    """The label a code's text says, or why it is none (never a guess)."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return Refused("not UTF-8 text")
    else:
        text = data
    fields = text.split(SEPARATOR)
    if fields[0] != FORMAT:
        return Refused(f"not a scangrade label (starts {fields[0][:8]!r})")
    if len(fields) != _FIELDS:
        return Refused(f"{len(fields)} fields where {FORMAT} has {_FIELDS}")
    body, crc = text.rpartition(SEPARATOR)[0], fields[-1]
    if crc != checksum(body):
        return Refused("checksum does not match: a misread or a damaged code")
    page, _, pages = fields[4].partition("/")
    if not (page.isdigit() and pages.isdigit() and page.isascii() and pages.isascii()):
        return Refused(f"page {fields[4]!r} is not <page>/<pages>")
    label = Label(fields[1], fields[2], fields[3], int(page), int(pages))
    problem = _field_problem(label)
    return label if problem is None else Refused(problem)


def _field_problem(label: Label) -> str | None:
    for name, value in (
        ("class", label.class_name),
        ("student id", label.student_code),
        ("assignment", label.assignment),
    ):
        if not value.strip():
            return f"the {name} is empty"
        if SEPARATOR in value or not value.isprintable():
            return f"the {name} {value!r} holds {SEPARATOR!r} or a control character"
    if not 1 <= label.page <= label.pages <= MAX_PAGES:
        return f"page {label.page} of {label.pages}: pages run from 1 to at most {MAX_PAGES}"
    return None


@dataclass(frozen=True)
class PrintedLabel:
    """A label to print: what it says, its code's text and the student's name to show."""

    label: Label
    code: str
    name: str

    def lines(self) -> tuple[str, ...]:
        """The text printed beside the code: name, class and id, assignment, page."""
        label = self.label
        return (
            self.name,
            f"{label.class_name} · {label.student_code}",
            label.assignment,
            f"page {label.page} of {label.pages}",
        )


def roster_labels(
    people: Sequence[Person], assignment: str, pages: int, *, class_name: str | None = None
) -> list[PrintedLabel]:
    """Every label of the assignment, student by student in roster order, page by page.

    ``class_name`` is the class of a roster that names none (a roster's own class column
    wins). Raises ConfigurationError naming the first student whose label cannot be made.
    """
    if not people:
        raise ConfigurationError("the roster names no student")
    made: list[PrintedLabel] = []
    for person in people:
        own_class = person.class_name or class_name
        if not own_class:
            raise ConfigurationError(
                f"student {person.code!r} has no class: give the roster a class column, or "
                "--class for a roster of one class"
            )
        for page in range(1, pages + 1):
            label = Label(own_class, person.code, assignment, page, pages)
            made.append(PrintedLabel(label, encode(label), person.name))
    return made
