"""JSON text at C speed, falling back to the standard library where the fast path refuses a value.

Writing: orjson writes the same text as `json.dumps(value, indent=2, ensure_ascii=False)` for what the
connector prints (checked on `connector replay`'s output of 30,000 events) about ten times as fast; it refuses
an integer beyond 64 bits and a non-string key, which the standard library writes.

Reading: msgspec reads what the standard library reads, as fast as orjson, and keeps an integer beyond 64
bits exact (orjson would turn it into a float). It refuses what is not strict JSON (NaN, 1e400, a lone
surrogate): such text goes to the standard library, which decides as it always did.

Depth: `MAX_DEPTH` is how deeply JSON the connector reads may nest containers, webhook bodies
(`adapters/jsonbody.py`) and event lines (`connector.events`) alike; `deeper_than` says whether text nests
deeper, without parsing it. Every JSON parser here recurses (the standard library, msgspec, orjson), so text
nested a thousand levels deep raises `RecursionError` wherever it is parsed: it must be refused before.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

import msgspec
import orjson

_decode = msgspec.json.Decoder().decode

MAX_DEPTH = 32  # containers inside containers: a canonical event needs 5, the deepest field value the rest
# a JSON string, escapes and all; one left open runs to the end of the text (its closing quote optional, so a
# match never fails and is never tried again from each later quote: that made text full of \" quadratic)
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def deeper_than(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON `text` nests containers more than `limit` deep (brackets inside strings do not count).

    Text that is not JSON gets an answer too: how deep its brackets open before it breaks off."""
    # the common case costs two scans at C speed: no text nests deeper than it has opening brackets
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return any(depth > limit for depth in accumulate(map(_STEP.__getitem__, brackets)))


def dumps(value: Any, *, indent: bool = False) -> str:
    """`value` as JSON text: compact (no spaces), or indented by two spaces as `json.dumps(indent=2)` is."""
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2 if indent else 0).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _stdlib_dumps(value, indent)


def dumps_bytes(value: Any, *, indent: bool = False) -> bytes:
    """`dumps`, encoded in UTF-8 (what orjson writes, without decoding it). Text the standard library writes
    for what orjson refuses is encoded here: a lone surrogate, which `dumps` returns as it is, raises."""
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2 if indent else 0)
    except TypeError:
        return _stdlib_dumps(value, indent).encode()


def _stdlib_dumps(value: Any, indent: bool) -> str:
    if indent:
        return json.dumps(value, indent=2, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    """Parse JSON text as `json.loads` does: through msgspec (about twice as fast), or the standard library
    for what msgspec refuses (not strict JSON, or not UTF-8)."""
    try:
        return _decode(text)
    except (msgspec.DecodeError, UnicodeError):
        pass
    return json.loads(text.decode("utf-8") if isinstance(text, bytes | bytearray) else text)
