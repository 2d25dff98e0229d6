"""The web app's parts that need no service: its signing key, the boxes over a page, its
assets (nothing from elsewhere), and ``serve`` refusing to listen beyond loopback unkeyed."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from pipeline.errors import ExitCode, NoWebSecret
from pipeline.operator.cli import main
from pipeline.operator.web.overlay import Mark, clamped, overlay
from pipeline.operator.web.secret import MIN_LENGTH, is_loopback, web_secret
from pipeline.settings import Settings

WEB = Path(__file__).resolve().parents[2] / "pipeline" / "operator" / "web"


def _settings(secret: str | None = None) -> Settings:
    return Settings(_env_file=None, web_secret=SecretStr(secret) if secret else None)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.4", False),
        ("example.org", False),
    ],
)
def test_only_loopback_counts_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_given_secret_is_used_wherever_the_server_listens(tmp_path: Path) -> None:
    given = "k" * MIN_LENGTH
    assert web_secret(_settings(given), "0.0.0.0", tmp_path) == given
    assert not list(tmp_path.iterdir()), "nothing is kept when a key is given"
    with pytest.raises(NoWebSecret, match="32 or more"):
        web_secret(_settings("short"), "127.0.0.1", tmp_path)


def test_a_loopback_server_makes_one_key_and_keeps_it(tmp_path: Path) -> None:
    first = web_secret(_settings(), "127.0.0.1", tmp_path)
    assert len(first) >= MIN_LENGTH
    kept = tmp_path / "web-secret"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert web_secret(_settings(), "localhost", tmp_path) == first  # a restart keeps sessions
    assert [p.name for p in tmp_path.iterdir()] == ["web-secret"]


def test_a_public_server_without_a_key_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(NoWebSecret, match=r"listen on 0\.0\.0\.0"):
        web_secret(_settings(), "0.0.0.0", tmp_path)
    assert not list(tmp_path.iterdir())


def test_serve_says_what_to_set_before_it_needs_a_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SCANGRADE_WEB_SECRET", raising=False)
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == ExitCode.CONFIG == NoWebSecret.exit_code, result.output
    assert "SCANGRADE_WEB_SECRET is not set" in result.output


def _mark(left: int, top: int, right: int, bottom: int) -> Mark:
    return Mark(left, top, right, bottom, "question", 2, False, "q-0-1", "Q1", "Q1: wrong")


def test_boxes_are_cut_at_the_page_and_dropped_outside_it() -> None:
    assert clamped(_mark(-5, 10, 120, 1900), 100, 1000) == _mark(0, 10, 100, 1000)
    assert clamped(_mark(150, 10, 200, 20), 100, 1000) is None
    assert clamped(_mark(10, 10, 20, 20), 100, 1000) == _mark(10, 10, 20, 20)
    svg = overlay([_mark(-5, 10, 120, 1900), _mark(150, 10, 200, 20)], 100, 1000)
    assert svg.count("<rect") == 1
    assert 'viewBox="0 0 100 1000"' in svg
    assert 'x="0" y="10" width="100" height="990"' in svg


def test_labels_and_titles_are_escaped() -> None:
    mark = Mark(1, 1, 9, 9, "slot", 1, True, 's-"1', "<b>", "x & <script>")
    svg = overlay([mark], 10, 10)
    assert "<script>" not in svg and "&lt;script&gt;" in svg and 'href="#s-&#34;1"' in svg
    assert 'class="slot r1 overridden"' in svg


def test_the_assets_come_from_the_package_alone() -> None:
    """No CDN: no template or asset names another site, and every script is the app's own."""
    files = [*(WEB / "templates").iterdir(), *(WEB / "static").iterdir()]
    assert any(f.suffix == ".js" for f in files) and any(f.suffix == ".html" for f in files)
    for path in files:
        # An XML namespace names a vocabulary; nothing is fetched from it.
        text = path.read_text(encoding="utf-8").replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert not re.search(r"(?:https?:)?//[\w.-]+\.\w", text), path
        for src in re.findall(r'<script[^>]*\bsrc="([^"]+)"', text):
            assert src.startswith("{{ url_for('static'"), (path, src)
