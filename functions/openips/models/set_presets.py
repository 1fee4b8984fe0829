"""Batch set presets (spec §5.12, UI "Batch Set Presets"): the recipe, its checks, its wire shapes.

A preset groups a job's assets by a naming rule — a regular expression over the *asset
name* (the asset ID: file name without extension) with a named group ``base`` — and turns
every group into a set asset (``ImageSet``, ``SpinSet`` or ``SwatchSet``). See docs/sets.md.

Regular expressions come from users and run on the service, and Python's ``re`` has no
timeout, so a pattern is accepted only when it is short and has no shape that backtracks
catastrophically (see ``check_match_pattern``); names longer than ``MAX_MATCH_NAME`` never
match. Together these bound the work one name can cost.
"""

import math
import re
import warnings
from datetime import datetime
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from openips.models.text import PlainName
from openips.models.upload_job import IpsModel

try:  # the parser behind ``re.compile`` (``sre_parse`` before 3.11)
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
    from re import _constants as _sre_constants  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants as _sre_constants  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

SetType = Literal["ImageSet", "SpinSet", "SwatchSet"]
MemberOrder = Literal["Alphanumeric", "SuffixList"]

MAX_PATTERN_LENGTH = 256
MAX_MATCH_NAME = 256  # asset names longer than this never match a preset
# Backtracking budget, in bits (log2 of the choices a rule gives the matcher): an unbounded
# repeat costs UNBOUNDED_BITS, a bounded one log2 of its range, an alternation log2 of its
# branches. 20 bits allow three wildcards plus a four-way alternation; the most expensive
# accepted rule takes about 0.1 s on a hostile 256-character name.
UNBOUNDED_BITS = 6.0
MAX_CHOICE_BITS = 20.0
MAX_SET_MEMBERS = 1000  # spec §3.5
MAX_DUPLICATES_PER_SET = 20  # spec §3.5: one asset at most 20 times in one set
MAX_SUFFIX_ORDER = 100
MAX_SET_NAME = 256
SOURCE_FOLDER = "{sourceFolder}"
_TEMPLATE_FIELD = re.compile(r"\{([^{}]*)\}")
_TEMPLATE_FIELDS = {"base"}
# Spec §9.1: characters IPS strips from names; a set name must not contain them either.
_FORBIDDEN_NAME_CHARS = set('\\;/?:@&=+$,*"<>|\'{}%')


class PatternError(ValueError):
    """A naming rule the service will not run."""


_REPEATS = {_sre_constants.MAX_REPEAT, _sre_constants.MIN_REPEAT} | (
    {_sre_constants.POSSESSIVE_REPEAT} if hasattr(_sre_constants, "POSSESSIVE_REPEAT") else set())
_ATOMIC = getattr(_sre_constants, "ATOMIC_GROUP", object())


def _walk(items: object, inside_repeat: bool, counter: list[float]) -> None:
    for op, args in items:  # type: ignore[attr-defined]
        if op in (_sre_constants.GROUPREF, _sre_constants.GROUPREF_EXISTS):
            raise PatternError("backreferences are not allowed")
        if op in (_sre_constants.ASSERT, _sre_constants.ASSERT_NOT):
            _walk(args[1], inside_repeat, counter)
        elif op == _sre_constants.SUBPATTERN:
            _walk(args[-1], inside_repeat, counter)
        elif op == _ATOMIC:
            _walk(args, inside_repeat, counter)
        elif op == _sre_constants.BRANCH:
            if inside_repeat:
                raise PatternError("an alternation inside a repeated group may backtrack catastrophically")
            counter[0] += math.log2(len(args[1]))
            for branch in args[1]:
                _walk(branch, inside_repeat, counter)
        elif op in _REPEATS:
            low, high, body = args
            repeats = high is _sre_constants.MAXREPEAT or high > 1
            if inside_repeat:  # (a+)+, (a?){20}: exponential
                raise PatternError("nested quantifiers (like (a+)+) may backtrack catastrophically")
            if repeats:
                if high is _sre_constants.MAXREPEAT or high > MAX_MATCH_NAME:
                    counter[0] += UNBOUNDED_BITS
                else:
                    counter[0] += math.log2(high - low + 1)
            elif high == 1 and low == 0:  # x?
                counter[0] += 1
            _walk(body, inside_repeat or repeats, counter)


def check_match_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a preset's naming rule, or ``PatternError`` saying why it is refused.

    Refused: longer than ``MAX_PATTERN_LENGTH``; not a valid regular expression; no named
    group ``base``; backreferences; a repeated group that itself contains a repeat or an
    alternation (``(a+)+``, ``(a|aa)*`` — exponential backtracking); more than
    more choices than ``MAX_CHOICE_BITS`` allow (``.*.*.*.*``, ``a?`` × 21 — polynomial or
    exponential backtracking without nesting).
    """
    if not pattern:
        raise PatternError("the pattern is empty")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"the pattern is {len(pattern)} characters long; at most {MAX_PATTERN_LENGTH}")
    try:
        with warnings.catch_warnings():  # "possible nested set" FutureWarnings are not our callers' business
            warnings.simplefilter("ignore")
            compiled = re.compile(pattern)
            parsed = _sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        raise PatternError(f"not a valid regular expression: {exc}") from exc
    if "base" not in compiled.groupindex:
        raise PatternError("the pattern has no named group 'base', e.g. (?P<base>.+?)")
    counter = [0.0]
    _walk(parsed, False, counter)
    if counter[0] > MAX_CHOICE_BITS:
        raise PatternError(f"the pattern is too ambiguous to match safely ({counter[0]:.1f} bits of "
                           f"backtracking choices; at most {MAX_CHOICE_BITS:.0f}: fewer wildcards, "
                           "optional parts or alternatives)")
    return compiled


def _check_name_template(template: str) -> str:
    fields = _TEMPLATE_FIELD.findall(template)
    if "base" not in fields:
        raise ValueError("must contain {base}")
    unknown = sorted(set(fields) - _TEMPLATE_FIELDS)
    if unknown:
        raise ValueError(f"unknown placeholder {{{unknown[0]}}}; only {{base}} is known")
    literal = _TEMPLATE_FIELD.sub("", template)
    bad = sorted(set(literal) & _FORBIDDEN_NAME_CHARS)
    if bad or "{" in literal or "}" in literal:
        raise ValueError(f"contains a character not allowed in asset names: {(bad or ['{'])[0]!r}")
    return template


def _check_folder(folder: str) -> str:
    rest = folder.removeprefix(SOURCE_FOLDER)
    if SOURCE_FOLDER in rest or "{" in rest or "}" in rest:
        raise ValueError("{sourceFolder} may appear once, at the start")
    if rest.startswith("/") and folder.startswith(SOURCE_FOLDER):
        raise ValueError("write {sourceFolder}sets/, not {sourceFolder}/sets/")
    if "\\" in rest or any(part in {".", ".."} for part in rest.split("/")):
        raise ValueError("relative segments and backslashes are not allowed")
    if any(ord(ch) < 32 for ch in rest):
        raise ValueError("control characters are not allowed")
    return folder


class SetPresetFields(IpsModel):
    """What a client gives when creating a preset (``POST /v1/set-presets``)."""

    name: PlainName = Field(min_length=1, max_length=256)
    set_type: SetType
    match_pattern: str = Field(min_length=1, max_length=MAX_PATTERN_LENGTH)
    member_order: MemberOrder = "Alphanumeric"
    suffix_order: list[str] = Field(default_factory=list, max_length=MAX_SUFFIX_ORDER)
    set_folder: str = Field(default=SOURCE_FOLDER, max_length=1024)
    set_name_template: str = Field(default="{base}_set", min_length=1, max_length=256)

    @field_validator("match_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            check_match_pattern(value)
        except PatternError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @field_validator("suffix_order")
    @classmethod
    def _suffixes(cls, value: list[str]) -> list[str]:
        for entry in value:
            if not entry or len(entry) > 128:
                raise ValueError("entries must be 1 to 128 characters")
            if "*" in entry[:-1]:
                raise ValueError(f"{entry!r}: '*' is allowed only at the end (a prefix match)")
        if len(set(value)) != len(value):
            raise ValueError("entries must be distinct")
        return value

    @field_validator("set_folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        return _check_folder(value)

    @field_validator("set_name_template")
    @classmethod
    def _template(cls, value: str) -> str:
        return _check_name_template(value)

    @model_validator(mode="after")
    def _order_needs_list(self) -> Self:
        if self.member_order == "SuffixList" and not self.suffix_order:
            raise ValueError("suffixOrder is required when memberOrder is SuffixList")
        return self


class CreateSetPresetRequest(SetPresetFields):
    company_handle: str | None = None


class SetPreset(SetPresetFields):
    """A stored preset (and the API's answer for one)."""

    preset_handle: str
    company_handle: str
    created: datetime
    created_by: str  # user handle

    def compiled(self) -> re.Pattern[str]:
        return check_match_pattern(self.match_pattern)


class SetPresetHandleResponse(IpsModel):
    preset_handle: str


class SetPresetListResponse(IpsModel):
    set_preset_array: list[SetPreset]
