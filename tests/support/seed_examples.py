"""Load the provider's documented JSON answer examples kept in ``tests/fixtures/seeds/``.

The provider's API documents (the "seeds") print their answer examples as *illustrative*
JSON, not as text a JSON parser accepts: ``//`` and ``/* … */`` comments, a comma missing
between two members (``}"title"``, ``"words_result_num": 2`` + newline + ``"words_result"``),
trailing commas, ``{ /* 同上 */ }`` placeholders, fragments that start with
``"result": {`` instead of a whole object, and one object whose final ``}`` is missing.
The ``.jsonc`` fixtures keep those characters verbatim (only the line numbers glued to the
start of each line in seeds 001 and 004 were removed, see ``fixtures/seeds/README.md``), so
a test can point at exactly what the provider documents.

:func:`lenient_loads` restores only what a JSON parser needs and nothing else. A small
tokenizer reads JSON strings (with their escapes), numbers, ``true``/``false``/``null`` and
punctuation, and skips comments outside strings; the repair pass then inserts a comma where
two values or members meet without one, drops a comma right before ``}`` or ``]``, lets an
object or array whose only content was a comment become ``{}``/``[]``, wraps a fragment
that starts with ``"key": …`` into ``{…}`` and closes containers still open at the end of
the text. The re-emitted tokens go to :func:`json.loads`. Every string and number token is
re-emitted character for character: the reader never renames a key or changes a value, so
the pipeline's parsers see the provider's fields exactly as documented (including quirks
such as ``que_id`` beside ``qus_id``, ``recognizeGranularity`` beside
``recognize_granularity`` or ``"error_code": "0"`` beside ``"error_code": 0``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

__all__ = [
    "FIXTURES_DIR",
    "Fix",
    "FixKind",
    "LenientJSONError",
    "Repaired",
    "Token",
    "example_names",
    "lenient_loads",
    "load_example",
    "repair",
    "repair_example",
    "tokenize",
]

FIXTURES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "seeds"
"""Where the verbatim seed examples live, one ``<seed>_<api>_<what>.jsonc`` file each."""

SUFFIX = ".jsonc"

TokenKind = Literal["string", "number", "literal", "punct", "comment"]
FixKind = Literal[
    "comment_dropped",
    "comma_inserted",
    "trailing_comma_dropped",
    "placeholder_emptied",
    "fragment_wrapped",
    "closer_appended",
]

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\n]+)
    |(?P<comment>//[^\n]*|/\*.*?\*/)
    |(?P<string>"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*")
    |(?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?![\w.]))
    |(?P<literal>(?:true|false|null)(?![\w.]))
    |(?P<punct>[{}\[\]:,])
    """,
    re.VERBOSE | re.DOTALL,
)
_VALUE_TOKENS = frozenset({"string", "number", "literal"})
_CLOSER = {"{": "}", "[": "]"}


class LenientJSONError(ValueError):
    """The text cannot be read even leniently; ``line``/``column`` are 1-based."""

    def __init__(self, message: str, text: str, position: int) -> None:
        self.line, self.column = _line_column(text, position)
        self.position = position
        super().__init__(f"{message} at line {self.line} column {self.column}")


@dataclass(frozen=True)
class Token:
    """One lexical token: its kind, its exact source text and its offset in the source."""

    kind: TokenKind
    text: str
    position: int

    @property
    def starts_value(self) -> bool:
        """True for a token that begins a JSON value (scalar, ``{`` or ``[``)."""
        return self.kind in _VALUE_TOKENS or self.text in ("{", "[")

    @property
    def ends_value(self) -> bool:
        """True for a token that completes a JSON value (scalar, ``}`` or ``]``)."""
        return self.kind in _VALUE_TOKENS or self.text in ("}", "]")


@dataclass(frozen=True)
class Fix:
    """One repair the reader made, located (1-based) at the source token that caused it."""

    kind: FixKind
    line: int
    column: int


@dataclass(frozen=True)
class Repaired:
    """Strict JSON text re-emitted from the tokens, and the repairs that were needed."""

    text: str
    fixes: tuple[Fix, ...]

    @property
    def kinds(self) -> frozenset[FixKind]:
        """The distinct kinds of repair made (empty when the source was strict JSON)."""
        return frozenset(fix.kind for fix in self.fixes)


def _line_column(text: str, position: int) -> tuple[int, int]:
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return line, column


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, keeping comments (outside strings) as ``comment`` tokens.

    Raises :class:`LenientJSONError` on anything that is not JSON or a comment, e.g. an
    unterminated string or comment, a bad escape, a bare word or a number like ``012``.
    """
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise LenientJSONError(f"unexpected {text[position]!r}", text, position)
        kind = match.lastgroup
        if kind != "ws":
            tokens.append(Token(cast(TokenKind, kind), match.group(), position))
        position = match.end()
    return tokens


def _fragment_start(text: str, tokens: list[Token]) -> Token | None:
    """The first token of a wrapped fragment (``"key": value`` with no braces), else None."""
    significant = [token for token in tokens if token.kind != "comment"]
    if not significant:
        raise LenientJSONError("no JSON value", text, len(text))
    first = significant[0]
    if first.kind == "string" and len(significant) > 1 and significant[1].text == ":":
        return first
    return None


def _closers(
    text: str, stack: list[str], wrapped: bool, note: Callable[[FixKind, Token], None]
) -> list[Token]:
    """The closers missing at the end, innermost first, each noted but a fragment's own."""
    ends = []
    for depth in range(len(stack) - 1, -1, -1):
        end = Token("punct", _CLOSER[stack[depth]], len(text))
        if not (wrapped and depth == 0):  # the wrapped fragment's own "}" is no extra fix
            note("closer_appended", end)
        ends.append(end)
    return ends


def repair(text: str) -> Repaired:
    """Re-emit ``text`` as strict JSON, restoring only what a JSON parser needs: strings,
    numbers and literals are copied unchanged; only punctuation is added or dropped (commas,
    the braces of a wrapped fragment, closers missing at the end)."""
    tokens = tokenize(text)
    out: list[Token] = []
    fixes: list[Fix] = []
    stack: list[str] = []  # open containers; a wrapped fragment's "{" is stack[0]

    def note(kind: FixKind, token: Token) -> None:
        fixes.append(Fix(kind, *_line_column(text, token.position)))

    first = _fragment_start(text, tokens)
    wrapped = first is not None
    if first is not None:
        note("fragment_wrapped", first)
        out.append(Token("punct", "{", first.position))
        stack.append("{")

    comment_since_last = False
    for token in tokens:
        if token.kind == "comment":
            note("comment_dropped", token)
            comment_since_last = True
            continue
        last = out[-1] if out else None
        if token.starts_value:
            if last is not None and last.ends_value and stack:
                note("comma_inserted", token)
                out.append(Token("punct", ",", token.position))
            if token.text in _CLOSER:
                stack.append(token.text)
        elif token.text in ("}", "]"):
            if last is not None and last.text == ",":
                note("trailing_comma_dropped", last)
                out.pop()
                last = out[-1] if out else None
            if not stack or _CLOSER[stack[-1]] != token.text:
                raise LenientJSONError(f"unbalanced {token.text!r}", text, token.position)
            emptied = last is not None and (last.kind, last.text) == ("punct", stack[-1])
            if comment_since_last and emptied:
                note("placeholder_emptied", token)
            stack.pop()
            wrapped = wrapped and bool(stack)  # a source "}" may close the fragment itself
        out.append(token)
        comment_since_last = False

    out.extend(_closers(text, stack, wrapped, note))
    return Repaired("".join(token.text for token in out), tuple(fixes))


def lenient_loads(text: str) -> Any:
    """Decode illustrative JSON: :func:`repair` it, then :func:`json.loads` the result."""
    return json.loads(repair(text).text)


def _path(name: str) -> Path:
    stem = name.removesuffix(SUFFIX)
    path = FIXTURES_DIR / f"{stem}{SUFFIX}"
    if not path.is_file():
        raise FileNotFoundError(f"no seed example {stem!r} in {FIXTURES_DIR}")
    return path


def repair_example(name: str) -> Repaired:
    """The :func:`repair` of fixture ``name`` (stem, ``.jsonc`` suffix optional)."""
    return repair(_path(name).read_text(encoding="utf-8"))


def load_example(name: str) -> dict[str, Any]:
    """Decode fixture ``name`` (e.g. ``"001_paper_cut_get_result_answer_sheet"``) to a dict."""
    value = json.loads(repair_example(name).text)
    if not isinstance(value, dict):
        raise TypeError(f"seed example {name!r} is a {type(value).__name__}, not an object")
    return value


def example_names(prefix: str = "") -> list[str]:
    """Sorted stems of the fixtures whose name starts with ``prefix`` (e.g. ``"002_"``)."""
    return sorted(
        path.stem for path in FIXTURES_DIR.glob(f"*{SUFFIX}") if path.stem.startswith(prefix)
    )
