"""The teachers' web app in a real browser over a batch graded by the real pipeline.

Real workers, the simulator and moto S3 grade a night in the ``<class>/<student>/`` layout;
``scangrade serve`` runs as its own process; Playwright drives Debian's Chromium (no browser
is downloaded). A teacher signs in, opens their class's grid, overrides an answer slot
through the page's form and sees the grid change; the override is then in ``v_slot_results``,
in ``scangrade export`` and in the report. A teacher of another class is refused the page,
its picture and the form.
"""

from __future__ import annotations

import contextlib
import csv
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import text
from support.batches import wait_until_done
from support.web import PASSWORD

from devkit.samples import jpeg_bytes, make_page_image
from devkit.standins import Service, start_web
from pipeline.adapters.db.accounts import add_user
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.operator.cli import main
from pipeline.settings import Settings
from pipeline.stages.enqueue import enqueue_directory

NIGHT = "web-night"
SECRET = "w" * 48
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"  # no name resolves
SCANS = {"3A/li-lei/page1.jpg": 701, "3A/wang-fang/page1.jpg": 702, "3B/zhao-min/page1.jpg": 703}


@pytest.fixture(scope="module")
def graded_batch(env: Settings, workers: Service, tmp_path_factory: pytest.TempPathFactory) -> int:
    root = tmp_path_factory.mktemp("scans") / NIGHT
    for rel, seed in SCANS.items():  # seeds of their own: no page is another test's duplicate
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(jpeg_bytes(make_page_image(seed)))
    enqueued = enqueue_directory(root, get_store(), batch_name=NIGHT, settle_s=0)
    wait_until_done(enqueued.batch_id)
    with session_scope() as session:
        add_user(session, "teacher-3a", PASSWORD, "teacher", ["3A"])
        add_user(session, "teacher-3b", PASSWORD, "teacher", ["3B"])
    return enqueued.batch_id


@pytest.fixture(scope="module")
def web(graded_batch: int, logs_dir: Path) -> Iterator[Service]:
    service = start_web({"SCANGRADE_WEB_SECRET": SECRET}, logs_dir / "web.log")
    yield service
    service.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", OFFLINE]
        )
        yield launched
        launched.close()


@contextlib.contextmanager
def signed_in(browser: Browser, web: Service, username: str) -> Iterator[Page]:
    context = browser.new_context(base_url=web.url)
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(web.url) else outside.append(r.url))
    errors: list[str] = []  # a script error, or anything the pages' CSP blocked
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "console", lambda m: errors.append(f"{m.text} {m.location}") if m.type == "error" else None
    )
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{web.url}/")
    try:
        yield page
    finally:
        context.close()
    assert outside == [], "the app fetched nothing from anywhere else"
    assert [e for e in errors if "403" not in e] == [], "no script error, nothing blocked"


def _slot_rows(batch_id: int, student: str) -> list[dict[str, Any]]:
    with session_scope() as session:
        rows = session.execute(
            text(
                "SELECT * FROM v_slot_results WHERE batch_id = :b AND student = :s "
                "ORDER BY question_sequence, slot_sequence"
            ),
            {"b": batch_id, "s": student},
        ).mappings()
        return [dict(row) for row in rows]


def _target(batch_id: int) -> dict[str, Any]:
    """li-lei's first slot the provider graded correct or wrong: the one to override."""
    rows = [r for r in _slot_rows(batch_id, "li-lei") if r["correct_result"] in (1, 2)]
    assert rows, "the simulator graded a slot of li-lei's page"
    return rows[0]


def test_a_teacher_overrides_a_slot_and_every_output_agrees(
    graded_batch: int, web: Service, browser: Browser, tmp_path: Path
) -> None:
    target = _target(graded_batch)
    new_grade, new_code = ("wrong", 2) if target["correct_result"] == 1 else ("correct", 1)
    question = f"p{target['page_no']} Q{target['question_sequence'] + 1}"
    with signed_in(browser, web, "teacher-3a") as page:
        page.click(f"a[href='/batches/{graded_batch}']")
        assert page.locator("table.classes").inner_text().count("3B") == 0
        page.click("table.classes a:text('3A')")
        row = page.locator("tr.student", has_text="li-lei")
        cell = row.locator(f"td.cell[data-question='{question}']")
        assert "overridden" not in (cell.get_attribute("class") or "")
        slot_rate_before = row.locator("td[data-rate=slots]").inner_text()
        grid = page.url
        cell.locator("a").click()
        _every_box_within_the_picture(page)
        slot_id = f"s-0-{target['question_sequence']}-{target['slot_sequence']}"
        form = page.locator(f"#{slot_id} form.override")
        form.locator("select[name=grade]").select_option(new_grade)
        form.locator("input[name=comment]").fill("checked by hand")
        form.locator("button").click()
        page.wait_for_url(f"**/pages/{target['page_id']}#{slot_id}")
        line = page.locator(f"#{slot_id}")
        assert line.get_attribute("data-grade") == new_grade
        assert "overridden by teacher-3a" in line.inner_text()
        history = page.locator("table.history tbody tr")
        assert history.count() == 1 and "checked by hand" in history.inner_text()
        page.goto(grid)
        row = page.locator("tr.student", has_text="li-lei")
        cell = row.locator(f"td.cell[data-question='{question}']")
        assert "overridden" in (cell.get_attribute("class") or "")
        assert row.locator("td[data-rate=slots]").inner_text() != slot_rate_before
    slot = next(r for r in _slot_rows(graded_batch, "li-lei") if r["slot_id"] == target["slot_id"])
    assert (
        slot["correct_result"] == new_code
        and slot["provider_correct_result"] == target["correct_result"]
    )
    assert slot["overridden"] and slot["overridden_by"] == "teacher-3a"
    assert slot["override_comment"] == "checked by hand"
    exported = _export(graded_batch, tmp_path)
    line = next(r for r in exported if r["slot_id"] == str(target["slot_id"]))
    assert line["correct_result"] == str(new_code) and line["overridden"] in ("True", "true", "t")
    label = f"Q{target['question_sequence'] + 1}.{target['slot_sequence']}"
    provider = {1: "correct", 2: "wrong"}[target["correct_result"]]
    box = re.compile(
        rf'<rect class="slot r{new_code} overridden"[^>]*><title>{re.escape(label)}: '
        rf"{new_grade} \(set by teacher-3a; the provider said {provider}\)</title>"
    )
    assert box.search(_report(tmp_path)), "the report draws the slot with the teacher's grade"


# One snapshot of the picture's and every box's place on screen, once the picture is shown.
_PLACES = """() => {
  const place = (e) => { const r = e.getBoundingClientRect();
                         return [r.left, r.top, r.right, r.bottom]; };
  const img = document.querySelector("img.scan");
  return {picture: place(img), shown: img.naturalWidth,
          boxes: [...document.querySelectorAll("svg.overlay rect")].map(place)};
}"""


def _every_box_within_the_picture(page: Page) -> None:
    page.wait_for_function("() => document.querySelector('img.scan').complete")
    places = page.evaluate(_PLACES)
    left, top, right, bottom = places["picture"]
    assert places["shown"] > 0 and right > left
    assert places["boxes"], "the page has boxes drawn over it"
    slack = 3  # half a stroke: strokes are drawn centred on the box's edge
    for box in places["boxes"]:
        assert box[0] >= left - slack and box[1] >= top - slack, (box, places["picture"])
        assert box[2] <= right + slack and box[3] <= bottom + slack, (box, places["picture"])


def _export(batch_id: int, tmp_path: Path) -> list[dict[str, str]]:
    out = tmp_path / "slots.csv"
    result = CliRunner().invoke(main, ["export", str(batch_id), "-o", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _report(tmp_path: Path) -> str:
    out = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", NIGHT, "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def test_a_teacher_of_another_class_is_refused(
    graded_batch: int, web: Service, browser: Browser
) -> None:
    target = _target(graded_batch)
    with signed_in(browser, web, "teacher-3b") as page:
        assert NIGHT in page.locator("table.batches").inner_text()
        token = page.locator("form.signout input[name=csrf]").get_attribute("value")
        answer = page.goto(f"/pages/{target['page_id']}")
        assert answer is not None and answer.status == 403
        assert "li-lei" not in page.content()
        picture = page.request.get(f"{web.url}/pages/{target['page_id']}/image")
        assert picture.status == 403
        classes = page.request.get(f"{web.url}/batches/{graded_batch}")
        assert "3B" in classes.text() and ">3A<" not in classes.text()
        form = {
            "csrf": token or "",
            "image": "0",
            "question": str(target["question_sequence"]),
            "slot": str(target["slot_sequence"]),
            "grade": "partial",
            "comment": "not mine",
        }
        refused = page.request.post(
            f"{web.url}/pages/{target['page_id']}/overrides", form=form, max_redirects=0
        )
        assert refused.status == 403
    with session_scope() as session:
        count = session.execute(
            text("SELECT count(*) FROM grade_overrides WHERE comment = 'not mine'")
        ).scalar_one()
    assert count == 0
