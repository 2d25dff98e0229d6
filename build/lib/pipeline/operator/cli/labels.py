"""``scangrade labels``: print the QR labels that tell ingest whose page it is.

Needs no service: it reads the roster and writes a PDF.
"""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.adapters.documents.label_sheet import (
    L7160,
    LAYOUTS,
    Layout,
    Sticker,
    label_pdf,
    sheets_needed,
)
from pipeline.domain.labels import MAX_PAGES, roster_labels
from pipeline.domain.students import read_roster
from pipeline.errors import ConfigurationError
from pipeline.operator.cli_support import console


@click.command()
@click.option(
    "--roster",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The students CSV: student_id,name[,class], one label set per student, in its order.",
)
@click.option("--assignment", required=True, help="The work the labels are for, e.g. hw-7.")
@click.option(
    "--pages",
    type=click.IntRange(1, MAX_PAGES),
    default=1,
    show_default=True,
    help="Pages each student hands in: a label for each, page 1 of N to N of N.",
)
@click.option(
    "--format",
    "layout",
    type=click.Choice(LAYOUTS),
    default="stickers",
    show_default=True,
    help=f"stickers: sheets of {L7160.name}; header: an A4 page per label with a strip "
    "across its top, the code in the top right corner.",
)
@click.option("--class", "class_name", help="The class of a roster without a class column.")
@click.option(
    "--font",
    "font_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A TrueType font embedded for names Helvetica cannot show (Chinese names); "
    "without it they use the viewer's STSong-Light.",
)
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The PDF to write.",
)
def labels(
    roster: Path,
    assignment: str,
    pages: int,
    layout: Layout,
    class_name: str | None,
    font_file: Path | None,
    output: Path,
) -> None:
    """Write a PDF of QR labels: a student's name, class, assignment and page, and its code.

    Stick (or print) one on each page before scanning: ingest then takes each page's
    student, assignment and page number from its code, ahead of the manifest, the folders
    and the roster, puts pages in their labels' order and turns sideways pages upright.
    """
    try:
        made = roster_labels(read_roster(roster), assignment, pages, class_name=class_name)
        stickers = [Sticker(item.code, item.lines()) for item in made]
        pdf = label_pdf(stickers, layout, title=f"{assignment} labels", font_file=font_file)
    except ConfigurationError as e:  # the roster, a label too long, the font
        raise click.UsageError(str(e)) from e
    try:
        output.write_bytes(pdf)
    except OSError as e:
        raise click.FileError(str(output), hint=e.strerror or str(e)) from e
    students, sheets = len(made) // pages, sheets_needed(len(made), layout)
    plural = "" if sheets == 1 else "s"
    paper = (
        f"A4 page{plural} with a header strip"
        if layout == "header"
        else f"sheet{plural} of {L7160.name}"
    )
    console.print(
        f"wrote {output}: {len(made)} labels ({students} students × {pages} pages), "
        f"{sheets} {paper}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


COMMANDS = (labels,)
