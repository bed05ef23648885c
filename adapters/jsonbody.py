"""Decode a webhook body into JSON safely: the same guard for every source.

Every way a body can be wrong is a `PayloadError` whose reason never echoes the body: not UTF-8, not JSON,
nested deeper than `MAX_DEPTH`, a number longer than `MAX_NUMBER_CHARS` or not finite (NaN, Infinity), a
string holding an unpaired UTF-16 surrogate escape (text no database can store). The tree is checked
iteratively, so a hostile nesting cannot hit Python's recursion limit in our code.

A body is first decoded by msgspec (about four times as fast as `json.loads` with the number hooks, on a
worker's every delivery); whatever it refuses (NaN, 1e400, a lone surrogate, text that is not JSON, nesting
past its recursion limit) and whatever it accepts that the careful way would not (`_as_careful`: too deep,
a number too long) goes the careful way, which words every error as before. On what both accept they
decode the same (a Hypothesis test holds them equal).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import msgspec

from connector.errors import PayloadError
from connector.jsontext import MAX_DEPTH  # containers inside containers, as for event lines

MAX_NUMBER_CHARS = 100  # no help desk id or field value needs more digits than this
MAX_REASON = 300        # reasons go back to the sender; a 1 MiB bad value must not

JSON_TYPES = {str: "a string", int: "a number", float: "a number", bool: "true or false", type(None): "null",
              list: "a list", dict: "an object"}
_SURROGATE = re.compile("[\ud800-\udfff]")
# the only way a surrogate gets into the decoded strings: valid UTF-8 holds none, so it must come from an
# escape such as \\ud800 (a pair of them decodes to one character, which the check then lets through)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


# a float literal longer than MAX_NUMBER_CHARS is a run of these (so may be other text: it then goes the careful way)
_LONG_NUMBER = re.compile(f"[-+.0-9eE]{{{MAX_NUMBER_CHARS + 1}}}")
_DECODE = msgspec.json.Decoder().decode
# the integers written in at most MAX_NUMBER_CHARS characters, sign included, lie strictly between these
_INT_BELOW = 10 ** MAX_NUMBER_CHARS
_INT_ABOVE = -(10 ** (MAX_NUMBER_CHARS - 1))


class _BadNumber(ValueError):
    pass


def _parse_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _BadNumber(text)
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text) if len(text) <= MAX_NUMBER_CHARS else math.inf
    if not math.isfinite(value):
        raise _BadNumber(text)
    return value


def _reject_constant(text: str) -> None:
    raise _BadNumber(text)


def short(reason: str) -> str:
    """Cut a reason that goes back to the sender to `MAX_REASON` characters."""
    return reason if len(reason) <= MAX_REASON else reason[:MAX_REASON - 1] + "…"


def json_type(value: Any) -> str:
    """Name a decoded JSON value's type for an error message."""
    return JSON_TYPES.get(type(value), type(value).__name__)


def decode_json(body: bytes, *, expected: str) -> Any:
    """Decode `body`; `expected` completes "empty body: expected …" (what the source sends)."""
    if not body or not body.strip():
        raise PayloadError(f"empty body: expected {expected}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PayloadError(f"body is not UTF-8 (bad byte at offset {err.start})") from None
    try:
        data = _DECODE(text)
    except (msgspec.DecodeError, RecursionError):  # refused: the careful way says why, in its words
        pass
    else:
        if _as_careful(data, text):
            return data
    try:
        data = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_reject_constant)
    except _BadNumber:
        raise PayloadError(f"body has a number that is not finite or longer than {MAX_NUMBER_CHARS} characters"
                           ) from None
    except RecursionError:
        raise PayloadError(f"body is nested more than {MAX_DEPTH} levels deep") from None
    except json.JSONDecodeError as err:
        raise PayloadError(f"body is not valid JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
    _check_tree(data, strings=_SURROGATE_ESCAPE.search(text) is not None)
    return data


def decode_object(body: bytes, *, expected: str) -> dict[str, Any]:
    """Decode `body` into a JSON object (anything else is a `PayloadError`)."""
    data = decode_json(body, expected=expected)
    if type(data) is not dict:
        raise PayloadError(f"expected a JSON object, got {json_type(data)}")
    return data


def _as_careful(data: Any, text: str) -> bool:
    """Whether msgspec's decoding of `text` is what the careful way accepts: nested at most `MAX_DEPTH`, each
    integer written in at most `MAX_NUMBER_CHARS` characters (read off its value: no leading zeros in JSON),
    and, if it holds a float (whose text its value does not tell), no run of more than that many number
    characters in the text. msgspec keeps no unpaired surrogate and no number that is not finite. Otherwise
    the careful way decides, and words its refusal."""
    kind = type(data)
    if kind is int:
        return _INT_ABOVE < data < _INT_BELOW
    floats = kind is float
    stack: list[tuple[Any, int]] = [(data, 1)] if kind is dict or kind is list else []
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        for value in node.values() if type(node) is dict else node:
            kind = type(value)
            if kind is dict or kind is list:
                stack.append((value, depth + 1))
            elif kind is int:
                if not _INT_ABOVE < value < _INT_BELOW:
                    return False
            elif kind is float:
                floats = True
    return not floats or _LONG_NUMBER.search(text) is None


def _check_tree(data: Any, *, strings: bool) -> None:
    """Refuse documents nested too deep or (when `strings`: the text escapes a surrogate) holding unpaired
    surrogates; iteratively, so no recursion limit. Only containers are pushed: a leaf is checked in place."""
    if strings and type(data) is str:
        _check_string(data)
    stack: list[tuple[Any, int]] = [(data, 1)] if type(data) is dict or type(data) is list else []
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise PayloadError(f"body is nested more than {MAX_DEPTH} levels deep")
        if type(node) is dict:
            if strings:
                for key in node:
                    _check_string(key)
            values = node.values()
        else:
            values = node
        for value in values:
            kind = type(value)
            if kind is dict or kind is list:
                stack.append((value, depth + 1))
            elif strings and kind is str:
                _check_string(value)


def _check_string(text: str) -> None:
    if _SURROGATE.search(text):
        raise PayloadError("body has a string with an unpaired UTF-16 surrogate escape")
