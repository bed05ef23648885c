"""`adapters.jsonbody.decode_json`: msgspec first, `json.loads` with the number hooks where it refuses.

The two ways must agree on every body: the same value (types included: 1 is not 1.0, -0.0 keeps its sign)
or the same `PayloadError` reason. Each body is decoded as the service does and with the fast way switched
off, and the outcomes compared."""

from __future__ import annotations

import json
import math
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import jsonbody
from connector.errors import PayloadError


def outcome(body: bytes) -> tuple[str, Any]:
    try:
        return ("value", jsonbody.decode_json(body, expected="a JSON object"))
    except PayloadError as err:
        return ("refused", err.reason)


def _refuse(_text: str) -> Any:
    raise msgspec.DecodeError("the fast way is off")


def careful(body: bytes) -> tuple[str, Any]:
    fast = jsonbody._DECODE
    jsonbody._DECODE = _refuse
    try:
        return outcome(body)
    finally:
        jsonbody._DECODE = fast


def typed(value: Any) -> Any:
    """A value with its types spelt out, so that 1 == 1.0 and 0.0 == -0.0 do not hide a difference."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    if isinstance(value, float):
        return ("float", math.copysign(1, value), abs(value))
    return (type(value).__name__, value)


def same(body: bytes) -> tuple[str, Any]:
    fast, slow = outcome(body), careful(body)
    assert fast[0] == slow[0], (body[:200], fast, slow)
    assert (typed(fast[1]) if fast[0] == "value" else fast[1]) == (typed(slow[1]) if slow[0] == "value" else slow[1])
    return fast


LEAVES = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(10**120), max_value=10**120)
          | st.floats(allow_nan=True, allow_infinity=True) | st.text(st.characters(codec="utf-8"), max_size=8)
          | st.sampled_from(["\ud800", "\udfff", "a\ud83d", "\ud83d\ude00", "\x00", "=cmd()", "\u2028"]))
VALUES = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=4), inner, max_size=4), max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(value=VALUES, ascii_only=st.booleans())
def test_any_value_decodes_the_same_both_ways(value: Any, ascii_only: bool):
    text = json.dumps({"v": value}, ensure_ascii=ascii_only, allow_nan=True)
    same(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=400, deadline=None)
@given(text=st.text(st.sampled_from('{}[]",:0123456789.eE+-tfnulrsa \\\t\nN/I'), max_size=40))
def test_any_text_of_json_characters_is_answered_the_same_both_ways(text: str):
    if text.strip():
        same(text.encode())


@pytest.mark.parametrize("body", [
    b'{"a": 1e400}', b'{"a": NaN}', b'{"a": -Infinity}', b'{"a": "\\ud800"}',
    b'{"a": ' + b"1" * 101 + b"}", b'{"a": 0.' + b"0" * 100 + b"1}", b'{"a": ' + b"1" * 100 + b"}",
    b"[" * 33 + b"]" * 33, b"[" * 32 + b"]" * 32, b"[" * 100_000 + b"]" * 100_000,
    b'{"a": 1}x', b"\xef\xbb\xbf{}", b'{"a":1,"a":2}', b'{"id": "' + b"9" * 200 + b'"}',
    b"9" * 100, b"9" * 101, b"-" + b"9" * 99, b"-" + b"9" * 100, b"1" + b"0" * 99, b"-1" + b"0" * 98,
    b'{"f": 1.5, "id": "' + b"9" * 200 + b'"}', b"[0.5, " + b"1" * 101 + b"]", b'"\\ud800\\udc00"',
])
def test_the_edges_are_answered_the_same_both_ways(body: bytes):
    same(body)


def test_a_long_digit_string_inside_a_value_is_decoded_all_the_same():
    """A run of 101 digits inside a string sends the body the careful way, which accepts it."""
    kind, value = same(b'{"id": "' + b"9" * 200 + b'"}')
    assert kind == "value" and value == {"id": "9" * 200}


def test_a_plain_body_is_decoded_by_msgspec_alone(monkeypatch: pytest.MonkeyPatch):
    def no_stdlib(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("json.loads was called")

    monkeypatch.setattr(jsonbody.json, "loads", no_stdlib)
    assert jsonbody.decode_json(b'{"ticket": {"id": 35436, "tags": ["vip"], "n": 10000000000000000000000}}',
                                expected="an object") == {"ticket": {"id": 35436, "tags": ["vip"],
                                                                     "n": 10**22}}
