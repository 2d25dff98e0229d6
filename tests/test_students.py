"""Students: from the manifest, the folders or a roster split; unmatched files listed, never
guessed; blank backs skipped before any call; ``enqueue --dry-run`` shows it all and sends
nothing."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from PIL import Image, ImageFilter
from sqlalchemy import func, select, text

from devkit.samples import jpeg_bytes, make_page_image, pdf_from_jpegs
from devkit.standins import Service
from pipeline.adapters.db.models import Batch, Page
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.domain.polling import unknown_first_s
from pipeline.domain.routing import Route, Routing
from pipeline.domain.students import Person, Students, read_students
from pipeline.errors import ConfigurationError
from pipeline.operator.cli import main
from pipeline.settings import Settings, get_settings
from pipeline.stages.enqueue import enqueue_directory
from pipeline.stages.plan import plan_directory
from tests.batches import wait_until_done


def page(seed: int) -> bytes:
    return jpeg_bytes(make_page_image(seed), quality=60)


def back(seed: int) -> bytes:
    """The blank back of a duplex sheet: paper tone, scanner noise and a few specks."""
    rng = random.Random(seed)
    img = Image.new("L", (1240, 1754), 246)
    for _ in range(20):
        x, y = rng.randrange(1240), rng.randrange(1754)
        img.putpixel((x, y), rng.randrange(60, 200))
    return jpeg_bytes(img.filter(ImageFilter.GaussianBlur(0.6)), quality=70)


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


# --- where a document's student comes from -------------------------------------------------


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


# --- through the real pipeline ----------------------------------------------------------------


@pytest.fixture(scope="module")
def night(env: Settings, workers: Service, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A class scanned duplex as one PDF (fronts written on, backs blank), a student's
    folder, a manifest row, and a loose file nobody owns."""
    root = tmp_path_factory.mktemp("students") / "night"
    fronts_and_backs = [page(701), back(1), page(702), back(2), page(703)]
    write(root / "7C.pdf", pdf_from_jpegs(fronts_and_backs))
    write(root / "7A" / "li-lei" / "homework.jpg", page(704))
    write(root / "inbox" / "scan-17.jpg", page(705))
    write(root / "loose.jpg", page(706))
    write(
        root / "manifest.csv",
        "file,student_id,name,class,assignment\ninbox/scan-17.jpg,1042,Wang Fang,3B,week 12\n",
    )
    roster = write(root.parent / "roster-7c.csv", "student_id,name\nS1,Amy\nS2,Bo\n")
    students = read_students(root, roster=roster, pages_per_student=2)
    report = enqueue_directory(root, get_store(), batch_name="students", students=students)
    wait_until_done(report.batch_id)
    return root, report


def owners(batch_id: int) -> dict[tuple[str, int], tuple[Any, ...]]:
    with session_scope() as session:
        rows = session.execute(
            text(
                """
                SELECT d.rel_path, p.page_no, p.state, p.error_code, o.class_name, o.student,
                       o.student_code, o.assignment, o.owner_source
                FROM v_page_owners o JOIN pages p ON p.id = o.page_id
                JOIN documents d ON d.id = p.document_id
                WHERE p.batch_id = :b
                """
            ),
            {"b": batch_id},
        ).all()
    return {(row[0], row[1]): tuple(row[2:]) for row in rows}


def test_every_page_has_its_student_and_blank_backs_are_never_sent(
    night: Any, sim_http: httpx.Client
) -> None:
    _, report = night
    assert [(u.rel_path, u.code) for u in report.unmatched] == [("loose.jpg", "no_student")]
    assert report.rejected == []  # the manifest is no scan
    found = owners(report.batch_id)
    amy, bo = ("7C", "Amy", "S1", None, "roster"), ("7C", "Bo", "S2", None, "roster")
    assert found == {
        ("7C.pdf", 1): ("done", None, *amy),
        ("7C.pdf", 2): ("skipped", "blank", *amy),
        ("7C.pdf", 3): ("done", None, *bo),
        ("7C.pdf", 4): ("skipped", "blank", *bo),
        ("7C.pdf", 5): ("done", None, "7C", None, None, None, "roster"),  # past the roster
        # A folder of images is one document: the student's own, or named by the manifest.
        ("7A/li-lei", 1): ("done", None, "7A", "li-lei", "li-lei", None, "directory"),
        ("inbox", 1): ("done", None, "3B", "Wang Fang", "1042", "week 12", "manifest"),
        ("loose.jpg", 1): ("done", None, None, None, None, None, None),
    }
    with session_scope() as session:
        sent = session.scalars(
            select(Page.sha256).where(Page.batch_id == report.batch_id, Page.state == "done")
        ).all()
        skipped = session.scalars(
            select(Page.sha256).where(Page.batch_id == report.batch_id, Page.state == "skipped")
        ).all()
        progress = session.execute(
            text(
                "SELECT pages_skipped, pages_in_flight, ended_share FROM v_batch_progress "
                "WHERE batch_id = :b"
            ),
            {"b": report.batch_id},
        ).one()
    uploads = set(sim_http.get("/_sim/uploads").json()["uploads"])
    assert set(sent) <= uploads and not set(skipped) & uploads
    assert tuple(progress) == (2, 0, 1)


def test_a_corrected_manifest_corrects_the_owners_of_pages_already_made(night: Any) -> None:
    root, report = night
    write(
        root / "manifest.csv",
        "file,student_id,name,class\n"
        "inbox/scan-17.jpg,1042,Wang Fang,3B\n"
        "loose.jpg,1077,Zhao Min,3B\n",
    )
    again = enqueue_directory(
        root, get_store(), batch_name="students", students=read_students(root)
    )
    assert again.queued == [] and again.unmatched == [] and again.batch_id == report.batch_id
    assert owners(report.batch_id)[("loose.jpg", 1)][2:5] == ("3B", "Zhao Min", "1077")


def test_dry_run_lists_everything_and_records_nothing(
    env: Settings, tmp_path: Path, sim_http: httpx.Client
) -> None:
    root = tmp_path / "dry"
    write(root / "7C.pdf", pdf_from_jpegs([page(801), back(3), page(802)]))
    write(root / "3A" / "li" / "hw.jpg", page(803))
    write(root / "loose.jpg", page(804))
    write(root / "notes.txt", "not a scan")
    roster = write(tmp_path / "roster.csv", "student_id,name,class\nS1,Amy,7C\n")
    calls_before = sim_http.get("/_sim/stats").json()
    with session_scope() as session:
        batches_before = session.scalar(select(func.count()).select_from(Batch))
    result = CliRunner().invoke(
        main,
        ["enqueue", str(root), "--dry-run", "--pages-per-student", "2", "--roster", str(roster)],
    )
    out = " ".join(result.output.split())
    assert result.exit_code == 1, result.output  # a rejected file needs a look
    assert "3 documents, 5 pages found; 4 pages would be sent, 1 blank pages skipped" in out
    assert "1 files rejected" in out
    plan = plan_directory(
        root,
        get_settings(),
        routes=Routing(Route("correct_edu", {})),
        students=read_students(root, roster=roster, pages_per_student=2),
    )
    [correct_edu] = plan.apis.values()
    assert (correct_edu.api, correct_edu.pages) == ("correct_edu", 4)
    assert correct_edu.calls == {"create_task": 4, "get_result": 5}  # 1.1 polls per task
    # The scarcer of the two quotas over every key, then a first poll of unknown times.
    settings = get_settings()
    keys = max(1, len(settings.api_keys()))
    create, get = (settings.qps("correct_edu", op) * keys for op in ("create_task", "get_result"))
    expected = max(4 / create, 5 / get) + unknown_first_s(settings)
    assert correct_edu.seconds == pytest.approx(expected) and plan.seconds == correct_edu.seconds
    assert "rejected notes.txt" in out and "[unsupported_type]" in out
    assert "blank 7C.pdf: page(s) 2 skipped" in out
    assert "unowned 7C.pdf: page(s) 3 are past the roster's last student" in out
    assert "unowned loose.jpg: no student" in out
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Batch)) == batches_before
    assert sim_http.get("/_sim/stats").json() == calls_before


def test_status_shows_blank_and_unowned_pages(night: Any) -> None:
    _, report = night
    result = CliRunner().invoke(main, ["status", str(report.batch_id)])
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.replace("│", " ").split()) for line in result.output.splitlines()]
    assert "pages skipped 2" in lines
    # 7C.pdf's page past the roster (loose.jpg has a student since the corrected manifest).
    assert "pages with no student (see enqueue's list) 1" in lines
