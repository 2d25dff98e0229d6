"""Choosing the API: CLI options, the manifest's folder rules, and the mistakes they refuse."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from devkit.samples import CUSTOM_MODEL_PATH, MIXED_MANIFEST, png_bytes
from pipeline.adapters.documents.images import b64_size, normalise
from pipeline.adapters.provider.apis import SPECS, Choices, build_options
from pipeline.domain.routing import Route, routing
from pipeline.errors import ConfigurationError
from pipeline.operator.cli import main
from pipeline.settings import Settings


def test_options_as_the_provider_spells_them() -> None:
    assert build_options("correct_edu", Choices(), default_endpoint=None) == {}
    assert build_options("correct_edu", Choices(only_split=True), default_endpoint=None) == {
        "only_split": True
    }
    assert build_options(
        "paper_cut", Choices(scene="answer_sheet", enhance=True), default_endpoint=None
    ) == {"scene_type": "answer_sheet", "enhance": True}
    assert build_options("composition", Choices(granularity="line"), default_endpoint=None) == {
        "recognize_granularity": "line"
    }
    assert build_options("formula", Choices(), default_endpoint=None) == {
        "recognize_granularity": "big",
        "detect_direction": True,
        "disp_formula": True,
    }
    assert build_options(
        "custom_ocr", Choices(language="ENG"), default_endpoint="/rpc/2.0/ai_custom/v1/ocr/m"
    ) == {"endpoint_path": "rpc/2.0/ai_custom/v1/ocr/m", "language_type": "ENG"}


@pytest.mark.parametrize(
    ("api", "choices", "message"),
    [
        ("composition", Choices(scene="paper"), "--scene does not apply to --api composition"),
        ("correct_edu", Choices(enhance=True), "--enhance does not apply"),
        ("composition", Choices(granularity="big"), "--granularity must be one of none, line"),
        ("paper_cut", Choices(scene="exam"), "--scene must be one of paper, answer_sheet"),
        ("custom_ocr", Choices(), "needs the trained model's path"),
        ("custom_ocr", Choices(endpoint_path="https://x/y"), "must be a path below"),
        ("custom_ocr", Choices(endpoint_path="a/../../oauth"), "must be a path below"),
        ("custom_ocr", Choices(endpoint_path="m", language="XX"), "--language must be one of"),
        ("ocr", Choices(), "unknown API 'ocr'"),
    ],
)
def test_wrong_choices_are_refused(api: str, choices: Choices, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(")):
        build_options(api, choices, default_endpoint=None)


def test_request_bodies() -> None:
    formula = SPECS["formula"].body(b"img", "image/png", {"detect_direction": True})
    assert formula == {"detect_direction": "true", "image": "aW1n"}
    pdf = SPECS["paper_cut"].body(b"%PDF", "application/pdf", {"scene_type": "paper"})
    assert pdf == {"scene_type": "paper", "pdf_file": "JVBERg==", "pdf_file_num": "1"}
    custom = SPECS["custom_ocr"].body(
        b"x", "image/jpeg", {"endpoint_path": "m", "language_type": "ENG"}
    )
    assert custom == {"language_type": "ENG", "image": "eA=="}
    assert SPECS["custom_ocr"].url_path("call", {"endpoint_path": "rpc/m"}) == "rpc/m"
    assert SPECS["formula"].url_path("call", {}) == "rest/2.0/ocr/v1/formula"
    assert SPECS["composition"].url_path("get_result", {}) == (
        "rest/2.0/ocr/v1/handwriting_composition/get_result"
    )
    assert SPECS["paper_cut"].is_sync({"only_split": True})
    assert not SPECS["paper_cut"].is_sync({})


def test_manifest_routes_by_deepest_folder(tmp_path: Path) -> None:
    (tmp_path / "scangrade.toml").write_text(MIXED_MANIFEST, encoding="utf-8")
    routes = routing(tmp_path, api=None, choices=Choices(), manifest=None, default_endpoint=None)
    assert routes.manifest == tmp_path / "scangrade.toml"
    assert routes.route("homework/a.jpg") == Route("correct_edu", {})
    assert routes.route("exams/b.pdf") == Route("paper_cut", {"scene_type": "paper"})
    assert routes.route("exams/answer-sheets/c.jpg") == Route(
        "paper_cut", {"scene_type": "answer_sheet", "enhance": True}
    )
    assert routes.route("essays/deep/d.jpg").api == "composition"
    assert routes.route("essays-old/e.jpg").api == "correct_edu"  # not a sub-folder of essays
    assert routes.route("forms/f.jpg") == Route(
        "custom_ocr", {"endpoint_path": CUSTOM_MODEL_PATH, "language_type": "CHN_ENG"}
    )


def test_cli_api_is_the_default_beside_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "scangrade.toml").write_text(MIXED_MANIFEST, encoding="utf-8")
    routes = routing(
        tmp_path,
        api="composition",
        choices=Choices(granularity="none"),
        manifest=None,
        default_endpoint=None,
    )
    assert routes.route("x.jpg") == Route("composition", {"recognize_granularity": "none"})
    assert routes.route("formulas/y.png").api == "formula"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[folders]]\npath = 'a'\n", "folder 'a' needs an 'api'"),
        ("[[folders]]\napi = 'formula'\n", "needs a 'path'"),
        ("[[folders]]\npath = '../x'\napi = 'formula'\n", "must be a sub-directory"),
        ("[[folders]]\npath = 'a'\napi = 'formula'\nscene = 'paper'\n", "folder 'a': --scene"),
        ("[[folders]]\npath = 'a'\napi = 'paper_cut'\nenhance = 'yes'\n", "enhance must be a bool"),
        ("[[folders]]\npath = 'a'\napi = 'formula'\ncolour = 1\n", "unknown key\\(s\\) colour"),
        ("api = 'formula'\n[[folders]\n", "not valid TOML"),
    ],
)
def test_manifest_mistakes_name_file_and_folder(tmp_path: Path, text: str, message: str) -> None:
    manifest = tmp_path / "m.toml"
    manifest.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message):
        routing(tmp_path, api=None, choices=Choices(), manifest=manifest, default_endpoint=None)


def test_cli_refuses_a_flag_of_another_api(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["enqueue", str(tmp_path), "--api", "composition", "--scene", "paper"]
    )
    assert result.exit_code == 2
    assert "--scene does not apply to --api composition" in result.output


def test_cli_help_lists_every_api() -> None:
    result = CliRunner().invoke(main, ["enqueue", "--help"])
    assert result.exit_code == 0
    for name in SPECS:
        assert name in result.output
    for flag in ("--scene", "--enhance", "--only-split", "--granularity", "--endpoint-path"):
        assert flag in result.output


def test_quotas_per_api_and_operation_from_the_seeds(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("SCANGRADE_")]:
        monkeypatch.delenv(name)  # the test session points some quotas elsewhere
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert {
        (api, op): settings.qps(api, op)
        for api, spec in SPECS.items()
        for op in (("create_task", "get_result") if spec.asynchronous else ("call",))
    } == {
        ("correct_edu", "create_task"): 2.0,
        ("correct_edu", "get_result"): 2.0,
        ("paper_cut", "create_task"): 2.0,
        ("paper_cut", "get_result"): 10.0,
        ("composition", "create_task"): 2.0,
        ("composition", "get_result"): 10.0,
        ("formula", "call"): 2.0,
        ("custom_ocr", "call"): 2.0,
    }
    paid = Settings(_env_file=None, paper_cut_get_qps=50)  # type: ignore[call-arg]
    assert paid.qps("paper_cut", "get_result") == 50
    with pytest.raises(ValueError, match="formula has no get_result"):
        settings.qps("formula", "get_result")


@pytest.mark.parametrize(("api", "side", "limit"), [("formula", 4096, 4), ("custom_ocr", 4096, 4)])
def test_pages_fit_each_apis_limits(api: str, side: int, limit: int) -> None:
    big = Image.effect_noise((5000, 3000), 60).convert("RGB")
    page = normalise(png_bytes(big), SPECS[api].limits)
    assert max(page.width, page.height) <= side
    assert b64_size(page.data) <= limit * 1024 * 1024
    small = normalise(png_bytes(Image.new("L", (300, 40), 255)), SPECS[api].limits)
    assert (small.width, small.height) == (300, 40)  # 15 px is these APIs' minimum
