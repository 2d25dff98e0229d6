from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from devkit import samples
from pipeline.adapters.documents import (
    discover,
    natural_key,
    normalise,
    sha256_files,
    split_image,
    split_pdf,
)
from pipeline.errors import BadInput


def rejections(root: Path) -> dict[str, str]:
    return {r.rel_path: r.code for r in discover(root).rejected}


def test_sample_batch_round_trip(tmp_path: Path) -> None:
    expected = samples.write_sample_batch(tmp_path)
    result = discover(tmp_path)

    assert result.rejected == []
    assert [d.rel_path for d in result.documents] == sorted(expected)
    kinds = {d.rel_path: d.kind for d in result.documents}
    assert kinds["7A/alice/homework.pdf"] == "pdf"
    assert kinds["7B/lee"] == "image_set"
    assert kinds["extra.png"] == "image"
    assert sum(f.stat().st_size for f in tmp_path.rglob("*") if f.is_file()) < 3_000_000

    for document in result.documents:
        pages = []
        for path in document.files:
            data = path.read_bytes()
            if document.kind == "pdf":
                pages += [page.image for page in split_pdf(data)]
            else:
                pages += [normalise(frame) for frame in split_image(data)]
        assert len(pages) == expected[document.rel_path], document.rel_path
        assert all(page is not None for page in pages)


def test_image_set_pages_in_natural_order(tmp_path: Path) -> None:
    folder = tmp_path / "class" / "worksheet"
    folder.mkdir(parents=True)
    for name in ("page10.jpg", "page2.jpg", "Page1.JPG", "page11.png"):
        (folder / name).write_bytes(b"x" * 10)

    [document] = discover(tmp_path).documents

    assert document.rel_path == "class/worksheet"
    assert document.kind == "image_set"
    assert [f.name for f in document.files] == [
        "Page1.JPG",
        "page2.jpg",
        "page10.jpg",
        "page11.png",
    ]
    assert all(f.is_absolute() for f in document.files)
    assert document.size_bytes == 40
    assert sorted(["p10", "p9", "p1"], key=natural_key) == ["p1", "p9", "p10"]


def test_folder_mixing_images_with_pdf_or_folders_is_not_an_image_set(tmp_path: Path) -> None:
    (tmp_path / "mixed" / "sub").mkdir(parents=True)
    (tmp_path / "mixed" / "a.jpg").write_bytes(b"x")
    (tmp_path / "mixed" / "b.pdf").write_bytes(b"x")
    (tmp_path / "withdir" / "sub").mkdir(parents=True)
    (tmp_path / "withdir" / "c.png").write_bytes(b"x")
    (tmp_path / "withdir" / "sub" / "d.png").write_bytes(b"x")
    (tmp_path / "top.jpg").write_bytes(b"x")

    result = discover(tmp_path)

    assert [(d.rel_path, d.kind) for d in result.documents] == [
        ("mixed/a.jpg", "image"),
        ("mixed/b.pdf", "pdf"),
        ("top.jpg", "image"),
        ("withdir/c.png", "image"),
        ("withdir/sub", "image_set"),
    ]


def test_rejects_what_can_never_be_ingested(tmp_path: Path) -> None:
    (tmp_path / "report.docx").write_bytes(b"PK\x03\x04")
    (tmp_path / "notes.TXT").write_bytes(b"hello")
    (tmp_path / "README").write_bytes(b"hello")
    (tmp_path / "blank.pdf").write_bytes(b"")
    os.mkfifo(tmp_path / "pipe.pdf")

    assert rejections(tmp_path) == {
        "README": "unsupported_type",
        "blank.pdf": "empty_file",
        "notes.TXT": "unsupported_type",
        "pipe.pdf": "unreadable",
        "report.docx": "unsupported_type",
    }
    reasons = {r.rel_path: r.reason for r in discover(tmp_path).rejected}
    assert "FIFO" in reasons["pipe.pdf"]
    assert "'.docx'" in reasons["report.docx"]
    assert discover(tmp_path).documents == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root can open a chmod 000 file")
def test_rejects_file_without_read_permission(tmp_path: Path) -> None:
    secret = tmp_path / "secret.pdf"
    secret.write_bytes(b"%PDF-1.4")
    secret.chmod(0)
    try:
        assert rejections(tmp_path) == {"secret.pdf": "unreadable"}
    finally:
        secret.chmod(0o644)


def test_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / ".archive").mkdir(parents=True)
    (root / ".archive" / "scan.pdf").write_bytes(b"%PDF")
    (root / "real.pdf").write_bytes(b"%PDF-real")
    outside = tmp_path / "outside.pdf"
    outside.write_bytes(b"%PDF")
    (root / "escape.pdf").symlink_to(outside)
    (root / "escape-dir").symlink_to(tmp_path)
    (root / "today.pdf").symlink_to(root / ".archive" / "scan.pdf")
    (root / "alias.pdf").symlink_to("real.pdf")
    (root / "dangling.pdf").symlink_to(root / "missing.pdf")
    (root / "sub").mkdir()
    (root / "sub" / "loop").symlink_to(root)

    result = discover(root)

    # in-root links are followed; a second path to a file already found is not a new document
    assert [d.rel_path for d in result.documents] == ["real.pdf", "today.pdf"]
    assert result.documents[1].files == (root / "today.pdf",)
    assert {r.rel_path: r.code for r in result.rejected} == {
        "dangling.pdf": "broken_link",
        "escape-dir": "outside_root",
        "escape.pdf": "outside_root",
    }


def test_symlinked_folder_inside_root_is_walked_once(tmp_path: Path) -> None:
    (tmp_path / ".store" / "set").mkdir(parents=True)
    (tmp_path / ".store" / "set" / "p1.jpg").write_bytes(b"x")
    (tmp_path / "linked").symlink_to(tmp_path / ".store" / "set")
    (tmp_path / "again").symlink_to(tmp_path / ".store" / "set")

    [document] = discover(tmp_path).documents

    assert (document.rel_path, document.kind) == ("again", "image_set")


def test_hidden_junk_is_skipped_silently_and_empty_folders_listed(tmp_path: Path) -> None:
    (tmp_path / ".hidden.pdf").write_bytes(b"%PDF")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.pdf").write_bytes(b"%PDF")
    (tmp_path / "Thumbs.db").write_bytes(b"junk")
    (tmp_path / "empty").mkdir()
    (tmp_path / "only-hidden").mkdir()
    (tmp_path / "only-hidden" / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "p1.png").write_bytes(b"x")
    (tmp_path / "set" / "desktop.ini").write_bytes(b"junk")

    result = discover(tmp_path)

    assert [(d.rel_path, d.kind) for d in result.documents] == [("set", "image_set")]
    assert result.rejected == []
    assert [(f.rel_path, f.code) for f in result.empty_folders] == [
        ("empty", "empty_folder"),
        ("only-hidden", "empty_folder"),
    ]
    assert "folder is empty: a missing submission?" in result.empty_folders[0].reason


def test_awkward_names(tmp_path: Path) -> None:
    names = ["with space.pdf", "ünïcødé 作业.jpg", "new\nline.png"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    bad = os.fsencode(tmp_path) + b"/bad\xff.pdf"
    with open(bad, "wb") as f:
        f.write(b"x")

    result = discover(tmp_path)

    assert [d.rel_path for d in result.documents] == sorted(names)
    assert [(r.rel_path, r.code) for r in result.rejected] == [("bad\\xff.pdf", "bad_name")]


def test_root_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as missing:
        discover(tmp_path / "nope")
    (tmp_path / "file.pdf").write_bytes(b"x")
    with pytest.raises(BadInput) as not_dir:
        discover(tmp_path / "file.pdf")
    assert missing.value.code == not_dir.value.code == "not_a_directory"


def test_sha256_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"alpha" * 500_000)
    b.write_bytes(b"beta")
    digest_a = hashlib.sha256(a.read_bytes()).hexdigest()
    digest_b = hashlib.sha256(b"beta").hexdigest()

    assert sha256_files([a]) == digest_a
    combined = hashlib.sha256(f"{digest_a}\n{digest_b}\n".encode()).hexdigest()
    assert sha256_files([a, b]) == combined
    assert sha256_files([b, a]) != combined
    with pytest.raises(ValueError):
        sha256_files([])
    with pytest.raises(BadInput):
        sha256_files([tmp_path / "gone"])
