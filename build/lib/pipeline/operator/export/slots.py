"""``scangrade export``: a batch's graded slots as one file, for spreadsheets and notebooks.

The rows and columns are the ``v_slot_results`` view's (docs/analysts.md), so the file says
what an analyst's query says: one row per answer slot, with its batch, class, student,
document, page, question, the answer read and its grade. CSV is UTF-8 with a header line and
empty fields for NULL; Parquet keeps the view's column types (pyarrow, imported only then).
The file appears whole or not at all: it is written next to its destination and renamed.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, text

from pipeline.adapters.db.session import get_engine
from pipeline.errors import ConfigurationError

FORMATS: Final = ("csv", "parquet")
VIEW: Final = "v_slot_results"
_ORDER: Final = "rel_path, page_no, image_index, question_sequence, slot_sequence"
_CHUNK: Final = 5000

Row = Sequence[Any]


@dataclass(frozen=True)
class Column:
    """A column of the view: its name and Postgres type (``information_schema`` spelling)."""

    name: str
    data_type: str


@dataclass(frozen=True)
class Exported:
    """What ``export_slots`` wrote."""

    path: Path
    rows: int
    columns: list[str]


def export_slots(batch_id: int, path: Path, fmt: str) -> Exported:
    """Write every slot of the batch to ``path`` as ``fmt`` (csv or parquet)."""
    if fmt not in FORMATS:
        raise ConfigurationError(f"unknown export format {fmt!r}; one of {', '.join(FORMATS)}")
    writer = _write_csv if fmt == "csv" else _write_parquet
    with get_engine().connect() as conn:
        columns = view_columns(conn)
        chunks = _slot_chunks(conn, batch_id)
        with replaced_atomically(path) as partial:
            rows = writer(partial, columns, chunks)
    return Exported(path, rows, [column.name for column in columns])


def view_columns(conn: Connection) -> list[Column]:
    """The view's columns in order, as the database defines them (the file follows them)."""
    found = conn.execute(
        text(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = :view "
            "ORDER BY ordinal_position"
        ),
        {"view": VIEW},
    ).all()
    return [Column(name, data_type) for name, data_type in found]


def _slot_chunks(conn: Connection, batch_id: int) -> Iterator[Sequence[Row]]:
    """The batch's rows in a stable order, a few thousand at a time (a server-side cursor)."""
    result = conn.execution_options(stream_results=True, yield_per=_CHUNK).execute(
        text(f"SELECT * FROM {VIEW} WHERE batch_id = :batch_id ORDER BY {_ORDER}"),
        {"batch_id": batch_id},
    )
    for partition in result.partitions():
        yield [tuple(row) for row in partition]


@contextmanager
def replaced_atomically(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path`` that becomes ``path`` once the block succeeds."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    partial = Path(name)
    try:
        yield partial
        partial.chmod(0o644)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def _write_csv(path: Path, columns: list[Column], chunks: Iterator[Sequence[Row]]) -> int:
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([column.name for column in columns])
        for chunk in chunks:
            writer.writerows([_csv_field(value) for value in row] for row in chunk)
            rows += len(chunk)
    return rows


def _write_parquet(path: Path, columns: list[Column], chunks: Iterator[Sequence[Row]]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    typed = [_arrow_type(column.data_type) for column in columns]
    schema = pa.schema(
        [pa.field(column.name, arrow) for column, (arrow, _) in zip(columns, typed, strict=True)]
    )
    rows = 0
    with pq.ParquetWriter(path, schema) as writer:
        for chunk in chunks:
            arrays = [
                pa.array([convert(row[index]) for row in chunk], type=arrow)
                for index, (arrow, convert) in enumerate(typed)
            ]
            writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
            rows += len(chunk)
    return rows


def _arrow_type(data_type: str) -> tuple[Any, Callable[[Any], Any]]:
    """The Arrow type of a Postgres column, and how to convert its Python values to it."""
    import pyarrow as pa

    def same(value: Any) -> Any:
        return value

    def as_float(value: Any) -> Any:
        return None if value is None else float(value)

    def as_text(value: Any) -> Any:
        return None if value is None else _text(value)

    types: dict[str, tuple[Any, Callable[[Any], Any]]] = {
        "bigint": (pa.int64(), same),
        "integer": (pa.int32(), same),
        "smallint": (pa.int16(), same),
        "boolean": (pa.bool_(), same),
        "double precision": (pa.float64(), same),
        "real": (pa.float32(), same),
        "numeric": (pa.float64(), as_float),
        "timestamp with time zone": (pa.timestamp("us", tz="UTC"), same),
        "text": (pa.string(), same),
    }
    return types.get(data_type, (pa.string(), as_text))


def _csv_field(value: Any) -> Any:
    """NULL as an empty field; JSON as JSON; the rest as the csv module writes it."""
    if value is None:
        return ""
    return _text(value) if isinstance(value, dict | list) else value


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
