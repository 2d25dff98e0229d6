"""Students: from the manifest, the folders or a roster split; unmatched files listed, never
guessed; blank backs skipped before any call; ``enqueue --dry-run`` shows it all and sends
nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support.students import write

from pipeline.domain.students import Person, Students, read_students
from pipeline.errors import ConfigurationError


def test_the_folders_name_class_and_student() -> None:
    students = Students()
    li = Person("3A", "li-lei", "li-lei")
    assert students.owner("3A/li-lei/homework.pdf").student == li
    assert students.owner("3A/li-lei/week 2/scan.jpg").student == li
    assert students.owner("3A/li-lei", "image_set").student == li
    for loose in ("3A/li-lei.pdf", "loose.jpg", "3A/li-lei"):
        owner = students.owner(loose)
        assert owner.student is None and owner.source is None
        assert owner.reason == "no student: not under <class>/<student>/"


def test_the_manifest_wins_and_its_deepest_row_covers_a_folder(tmp_path: Path) -> None:
    write(
        tmp_path / "manifest.csv",
        "\ufefffile,student_id,name,class,assignment\n"  # a spreadsheet's BOM
        "inbox,900,Whole Inbox,9Z,\n"
        "inbox/wang.pdf,1042,Wang Fang,3B,week 12\n"
        "3A/li-lei/homework.pdf,1001,Li Lei,3A,\n"
        "\n"
        "gone.pdf,7,Nobody,3A,\n",
    )
    students = read_students(tmp_path)
    assert students.manifest == tmp_path / "manifest.csv"
    wang = students.owner("inbox/wang.pdf")
    assert (wang.source, wang.student, wang.assignment) == (
        "manifest",
        Person("3B", "1042", "Wang Fang"),
        "week 12",
    )
    assert students.owner("inbox/sub/other.jpg").student == Person("9Z", "900", "Whole Inbox")
    assert students.owner("3A/li-lei/homework.pdf").student == Person("3A", "1001", "Li Lei")
    # Not in the manifest: the folders still apply; else the reason names the manifest.
    assert students.owner("3A/han/hw.pdf").source == "directory"
    assert "not in the manifest manifest.csv" in (students.owner("x.jpg").reason or "")
    unused = students.unused_rows([("inbox/wang.pdf", "pdf"), ("3A/li-lei/homework.pdf", "pdf")])
    assert [(row.line, str(row.path)) for row in unused] == [(6, "gone.pdf")]


def test_rows_naming_files_of_a_folder_of_images_give_its_student_or_conflict(
    tmp_path: Path,
) -> None:
    write(
        tmp_path / "manifest.csv",
        "file,student_id,name,class\n"
        "set/p1.jpg,1,Li,3A\nset/p2.jpg,1,Li,3A\nmix/p1.jpg,1,Li,3A\nmix/p2.jpg,2,Bo,3A\n",
    )
    students = read_students(tmp_path)
    assert students.owner("set", "image_set").student == Person("3A", "1", "Li")
    mixed = students.owner("mix", "image_set")
    assert mixed.student is None
    assert "lines 4, 5 give different students" in (mixed.reason or "")
    assert students.unused_rows([("set", "image_set"), ("mix", "image_set")]) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("file,student\na.pdf,1\n", "missing student_id, class"),
        ("file,student_id,class,grade\na.pdf,1,3A,x\n", "unknown grade"),
        ("file,student_id,name,class\na.pdf,,Li,3A\n", "line 2: student_id is empty"),
        ("file,student_id,name,class\n../a.pdf,1,Li,3A\n", "must be a path inside"),
        ("file,student_id,name,class\na.pdf,1,Li,3A\na.pdf,2,Bo,3A\n", "already given on line 2"),
        ("file,student_id,name,class\na.pdf,1,Li,3A,extra\n", "more fields than the header"),
    ],
)
def test_manifest_mistakes_name_the_file_and_line(
    tmp_path: Path, content: str, message: str
) -> None:
    path = write(tmp_path / "students.csv", content)
    with pytest.raises(ConfigurationError, match=re.escape(message)) as raised:
        read_students(tmp_path, manifest=path)
    assert str(path) in str(raised.value)


def test_spreadsheet_csv_dialects_are_read(tmp_path: Path) -> None:
    content = "file;student_id;name;class\n3B/王芳.pdf;1042;王芳;三年级二班\n"
    path = write(tmp_path / "m.csv", "")
    path.write_bytes(content.encode("gb18030"))
    students = read_students(tmp_path, manifest=path)
    assert students.owner("3B/王芳.pdf").student == Person("三年级二班", "1042", "王芳")


def test_roster_split_every_n_pages_by_the_files_class(tmp_path: Path) -> None:
    roster = write(
        tmp_path / "roster.csv",
        "student_id,name,class\n1,Amy,7A\n2,Bo,7A\n3,Cy,7B\n",
    )
    students = read_students(tmp_path, roster=roster, pages_per_student=2)
    by_name = students.owner("7A.pdf")
    by_folder = students.owner("7A/scan-0001.pdf")
    assert by_name == by_folder
    assert by_name.source == "roster" and by_name.class_name == "7A"
    assert [by_name.student_of_page(n) for n in range(1, 6)] == [
        Person("7A", "1", "Amy"),
        Person("7A", "1", "Amy"),
        Person("7A", "2", "Bo"),
        Person("7A", "2", "Bo"),
        None,  # past the roster's last student: nobody's, never guessed
    ]
    # Two classes in the roster and a file naming neither: unmatched, with the classes.
    assert "roster classes: 7A, 7B" in (students.owner("scan.pdf").reason or "")
    # The folders still win over the roster.
    assert students.owner("7A/amy/hw.pdf").source == "directory"


def test_a_roster_of_one_class_applies_to_every_file(tmp_path: Path) -> None:
    roster = write(tmp_path / "r.csv", "student_id,name,class\n1,Amy,7A\n")
    assert (
        read_students(tmp_path, roster=roster, pages_per_student=1).owner("scan.pdf").class_name
        == "7A"
    )


def test_pages_per_student_needs_a_roster(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="go together"):
        read_students(tmp_path, pages_per_student=2)
