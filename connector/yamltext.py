"""YAML read with libyaml's C parser when PyYAML was built with it, the pure-Python one otherwise.

Both build the same values (the same safe constructor and resolver over a different parser); the C parser
reads the example config in 3 ms against 27 ms, which every command pays at start-up. Errors are
`yaml.YAMLError` either way, with the line and column of the problem, also for a scalar that looks like a
value and is none (a date `2026-02-30`, an integer of 5,000 digits), which PyYAML raises as a bare ValueError.

`read` gives a file's text: UTF-8 (a byte-order mark is allowed) of at most `MAX_BYTES`, else a ValueError
saying which (the byte offset of the first byte that is not UTF-8), so a config in Latin-1 or UTF-16, or a
path such as /dev/zero, is a clear refusal instead of a traceback or a read that never ends.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import yaml

SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# The largest YAML file read: the example config is 7 KB, and a config listing every holiday of a century
# by date is under 1 MiB.
MAX_BYTES = 4 * 1024 * 1024


class ValuesChecked:
    """A loader mixin (before the loader: `class L(ValuesChecked, yaml.SafeLoader)`): a scalar its constructor
    cannot build is a `yaml.YAMLError` at its position, not the constructor's ValueError."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)  # type: ignore[misc]
        except (ValueError, OverflowError) as err:  # e.g. month must be in 1..12; a yaml.YAMLError is neither
            reason = str(err).split(";")[0]  # not Python's advice on raising its integer limit
            raise yaml.constructor.ConstructorError(None, None, f"{_cut(node.value)} is not a valid "
                                                    f"{node.tag.rsplit(':', 1)[-1]}: {reason}",
                                                    node.start_mark) from None


class _Loader(ValuesChecked, SafeLoader):  # type: ignore[misc,valid-type]
    """The safe loader (the C one when there is one), its values checked."""


def _cut(value: Any) -> str:
    text = value if isinstance(value, str) else type(value).__name__
    return repr(text if len(text) <= 40 else text[:40] + "…")


def load(text: str) -> Any:
    """`yaml.safe_load`, through the C parser when there is one; a document whose aliases expand it to more
    than `MAX_VALUES` values is a `yaml.YAMLError` at the first node whose expansion passes the limit."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if "&" in text and "*" in text:  # an alias (*name) can only repeat an anchored (&name) node
            _check_expansion(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


# The most values a YAML document may expand to through its aliases: a few lines of nested aliases (the
# "billion laughs") made a 500 MB config of 400 bytes, and one more line would make it 5 GB.
MAX_VALUES = 1_000_000


def _check_expansion(root: Any) -> None:
    """Count the values the document holds once every alias is expanded, without expanding it (each node's
    count is remembered), and refuse it past `MAX_VALUES`."""
    counted: dict[int, int] = {}
    open_: set[int] = set()  # nodes whose children are being counted: meeting one again is a cycle
    # (node, None) to visit; (node, its children) once they are counted
    stack: list[tuple[Any, list[Any] | None]] = [(root, None)]
    while stack:
        node, counted_children = stack.pop()
        if id(node) in counted:
            continue
        if isinstance(node, yaml.ScalarNode):
            counted[id(node)] = 1
            continue
        if counted_children is None:
            if id(node) in open_:  # `&a [*a]`: a value that holds itself never ends
                raise yaml.constructor.ConstructorError(None, None, "an alias (*name) inside its own anchor's value",
                                                        node.start_mark)
            open_.add(id(node))
            children = ([c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode)
                        else list(node.value))
            stack.append((node, children))
            stack.extend((c, None) for c in children if id(c) not in counted)
            continue
        open_.discard(id(node))
        total = 1 + sum(counted.get(id(c), 0) for c in counted_children)
        if total > MAX_VALUES:
            raise yaml.constructor.ConstructorError(
                None, None, f"through its aliases (*name) this expands to more than {MAX_VALUES:,} values",
                node.start_mark)
        counted[id(node)] = total


def read(path: Path, *, limit: int = MAX_BYTES) -> str:
    """Return the text of a YAML file; OSError when it cannot be read, ValueError (the reason, to follow the
    file's name) when it is over `limit` bytes or not UTF-8."""
    with path.open("rb") as file:
        data = file.read(limit + 1)  # a device such as /dev/zero never ends: read no more than the limit
    if len(data) > limit:
        raise ValueError(f"is over {limit / 2**20:g} MiB ({limit:,} bytes), the most a YAML file may have")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)):  # UTF-32-LE's is 16-LE's
        raise ValueError("is not UTF-8: it begins with a UTF-16 or UTF-32 byte-order mark (save it as UTF-8)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ValueError(f"is not UTF-8: byte {err.start} (line {line}) is 0x{data[err.start]:02x} "
                         f"(save it as UTF-8)") from None
