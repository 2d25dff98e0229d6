"""One spec per provider API: where it lives, how a page is sent, what it accepts.

Everything that differs between the five APIs of the seeds is here, as data, so the stages
stay the same for all of them:

============  =========================  =====  ====================  ===============
``--api``     provider path              mode   body                  page limits
============  =========================  =====  ====================  ===============
correct_edu   ocr/v1/correct_edu         async  JSON, image           512–8192 px, 10 MB
paper_cut     ocr/v1/paper_cut_edu_vlm   async  JSON, image | PDF     15–8192 px, 10 MB
composition   ocr/v1/handwriting_...     async  JSON, image | PDF     15–4096 px, 10 MB
formula       ocr/v1/formula             sync   form-encoded, image   15–4096 px, 4 MB
custom_ocr    the trained model's path   sync   JSON, image           15–4096 px, 4 MB
============  =========================  =====  ====================  ===============

``only_split=true`` makes correct_edu and paper_cut answer synchronously. Options are kept
as the provider spells them (``scene_type``, ``recognize_granularity``…), so what a batch
records is exactly what was sent; ``endpoint_path`` alone is routing, never sent.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, get_args

from pipeline.adapters.documents.images import Limits
from pipeline.adapters.documents.pdf import PDF_CONTENT_TYPE
from pipeline.errors import ConfigurationError
from pipeline.settings import Api, Operation

API_NAMES: Final[tuple[Api, ...]] = get_args(Api)
ROUTING_OPTIONS: Final = frozenset({"endpoint_path"})

_MB: Final = 1024 * 1024
GRANULARITIES: Final = ("none", "line", "word")
SCENES: Final = ("paper", "answer_sheet")
FORMULA_GRANULARITIES: Final = ("big", "small")
LANGUAGES: Final = [
    "auto_detect",
    "CHN_ENG",
    "ENG",
    "JAP",
    "KOR",
    "FRE",
    "SPA",
    "POR",
    "GER",
    "ITA",
    "RUS",
    "DAN",
    "DUT",
    "MAL",
    "SWE",
    "IND",
    "POL",
    "ROM",
    "TUR",
    "GRE",
    "HUN",
    "THA",
    "VIE",
    "ARA",
    "HIN",
]


@dataclass(frozen=True)
class ApiSpec:
    """What scangrade needs to know to send a page to one API and read its answer."""

    name: Api
    provider_name: str
    asynchronous: bool
    form_encoded: bool
    sends_pdf: bool
    limits: Limits
    option_names: frozenset[str]
    # Inputs are small crops (a formula, a field), never duplex backs: no blank check.
    checks_blank: bool = True

    def is_sync(self, options: dict[str, Any]) -> bool:
        """Whether one call answers (sync APIs, and ``only_split`` on async ones)."""
        return not self.asynchronous or options.get("only_split") is True

    @property
    def submit_op(self) -> Operation:
        """The operation that sends a page."""
        return "create_task" if self.asynchronous else "call"

    def url_path(self, op: Operation, options: dict[str, Any]) -> str:
        """The URL path below the base URL, without a leading slash."""
        if self.name == "custom_ocr":
            path = options.get("endpoint_path")
            if not path:
                raise ConfigurationError(
                    "custom_ocr needs the trained model's path: pass --endpoint-path "
                    "or set SCANGRADE_CUSTOM_OCR_ENDPOINT_PATH"
                )
            return str(path)
        base = f"rest/2.0/ocr/v1/{self.provider_name}"
        return f"{base}/{op}" if self.asynchronous else base

    def body(self, page: bytes, content_type: str, options: dict[str, Any]) -> dict[str, Any]:
        """The request body: the page (plain base64, no ``data:`` prefix) and the options."""
        body: dict[str, Any] = {k: v for k, v in options.items() if k in self.option_names}
        encoded = base64.b64encode(page).decode("ascii")
        if content_type == PDF_CONTENT_TYPE:
            # Each page is stored as a one-page PDF cut from the scan, so it is always page 1.
            body |= {"pdf_file": encoded, "pdf_file_num": "1"}
        else:
            body["image"] = encoded
        if self.form_encoded:
            body = {k: _form_value(v) for k, v in body.items()}
        return body


def _form_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


SPECS: Final[dict[Api, ApiSpec]] = {
    "correct_edu": ApiSpec(
        "correct_edu",
        "correct_edu",
        asynchronous=True,
        form_encoded=False,
        sends_pdf=False,
        limits=Limits(),
        option_names=frozenset({"only_split"}),
    ),
    "paper_cut": ApiSpec(
        "paper_cut",
        "paper_cut_edu_vlm",
        asynchronous=True,
        form_encoded=False,
        sends_pdf=True,
        limits=Limits(min_side=15, max_side=8192, max_b64_bytes=10 * _MB),
        option_names=frozenset({"scene_type", "enhance", "only_split"}),
    ),
    "composition": ApiSpec(
        "composition",
        "handwriting_composition",
        asynchronous=True,
        form_encoded=False,
        sends_pdf=True,
        limits=Limits(min_side=15, max_side=4096, max_b64_bytes=10 * _MB),
        option_names=frozenset({"recognize_granularity"}),
    ),
    "formula": ApiSpec(
        "formula",
        "formula",
        asynchronous=False,
        form_encoded=True,
        sends_pdf=False,
        limits=Limits(min_side=15, max_side=4096, max_b64_bytes=4 * _MB),
        option_names=frozenset({"recognize_granularity", "detect_direction", "disp_formula"}),
        checks_blank=False,
    ),
    "custom_ocr": ApiSpec(
        "custom_ocr",
        "custom_ocr",
        asynchronous=False,
        form_encoded=False,
        sends_pdf=False,
        limits=Limits(min_side=15, max_side=4096, max_b64_bytes=4 * _MB),
        option_names=frozenset({"language_type"}),
        checks_blank=False,
    ),
}


def spec(api: str) -> ApiSpec:
    """The spec of an API by its ``--api`` name."""
    try:
        return SPECS[api]  # type: ignore[index]
    except KeyError:
        raise ConfigurationError(
            f"unknown API {api!r}; choose one of {', '.join(API_NAMES)}"
        ) from None


@dataclass(frozen=True)
class Choices:
    """The API options an operator may give (CLI flags, manifest keys); None = not given."""

    scene: str | None = None
    enhance: bool | None = None
    only_split: bool | None = None
    granularity: str | None = None
    endpoint_path: str | None = None
    language: str | None = None

    def given(self) -> dict[str, object]:
        """The choices that were made, by name."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


_ALLOWED: Final[dict[Api, frozenset[str]]] = {
    "correct_edu": frozenset({"only_split"}),
    "paper_cut": frozenset({"scene", "enhance", "only_split"}),
    "composition": frozenset({"granularity"}),
    "formula": frozenset({"granularity"}),
    "custom_ocr": frozenset({"endpoint_path", "language"}),
}


def build_options(api: str, choices: Choices, *, default_endpoint: str | None) -> dict[str, Any]:
    """The provider options of a page from the operator's choices, checked against the API.

    A choice the API does not take is refused, not ignored: ``--scene`` with ``--api
    composition`` is a mistake the operator wants to hear about before the night starts.
    """
    api_spec = spec(api)
    wrong = sorted(set(choices.given()) - _ALLOWED[api_spec.name])
    if wrong:
        names = ", ".join("--" + name.replace("_", "-") for name in wrong)
        raise ConfigurationError(f"{names} does not apply to --api {api}")
    return _BUILDERS[api_spec.name](choices, default_endpoint)


def _one_of(flag: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigurationError(f"--{flag} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _correct_edu(choices: Choices, _: str | None) -> dict[str, Any]:
    return {"only_split": True} if choices.only_split else {}


def _paper_cut(choices: Choices, _: str | None) -> dict[str, Any]:
    options: dict[str, Any] = {"scene_type": _one_of("scene", choices.scene or "paper", SCENES)}
    if choices.enhance:
        options["enhance"] = True
    if choices.only_split:
        options["only_split"] = True
    return options


def _composition(choices: Choices, _: str | None) -> dict[str, Any]:
    # Word granularity by default: the richest answer, so nothing is lost that a later
    # report might want (character boxes); coarser levels are a choice, not a default.
    granularity = _one_of("granularity", choices.granularity or "word", GRANULARITIES)
    return {"recognize_granularity": granularity}


def _formula(choices: Choices, _: str | None) -> dict[str, Any]:
    granularity = _one_of("granularity", choices.granularity or "big", FORMULA_GRANULARITIES)
    # Direction and the separate formula list cost nothing and spare analysts a re-run.
    return {"recognize_granularity": granularity, "detect_direction": True, "disp_formula": True}


def _custom_ocr(choices: Choices, default_endpoint: str | None) -> dict[str, Any]:
    path = choices.endpoint_path or default_endpoint
    if not path:
        raise ConfigurationError(
            "--api custom_ocr needs the trained model's path: --endpoint-path "
            "(or SCANGRADE_CUSTOM_OCR_ENDPOINT_PATH), e.g. rpc/2.0/ai_custom/v1/ocr/my_model"
        )
    return {
        "endpoint_path": _endpoint_path(path),
        "language_type": _one_of("language", choices.language or "CHN_ENG", tuple(LANGUAGES)),
    }


def _endpoint_path(path: str) -> str:
    """A path below the base URL: no scheme, host, query or ``..``, so no token leaks."""
    clean = path.strip().lstrip("/")
    if "://" in clean or "?" in clean or "#" in clean or ".." in clean.split("/") or not clean:
        raise ConfigurationError(
            f"--endpoint-path must be a path below the provider's base URL, "
            f"like rpc/2.0/ai_custom/v1/ocr/my_model, not {path!r}"
        )
    return clean


_BUILDERS: Final[dict[Api, Callable[[Choices, str | None], dict[str, Any]]]] = {
    "correct_edu": _correct_edu,
    "paper_cut": _paper_cut,
    "composition": _composition,
    "formula": _formula,
    "custom_ocr": _custom_ocr,
}
