"""Text from outside made safe to print: a control character is shown as an escape, never sent as itself.

A ticket's subject, a matched excerpt of its description, a help desk's error text: whoever wrote them chose
every character. Printed raw to a terminal, ESC starts a control sequence (OSC 0 retitles the window, OSC 8
plants a link, CSI 2J clears the screen), a bare CR or a newline overwrites or forges a line, and a bidi
override reorders what follows it (the "Trojan Source" trick). `visible` turns each such character into a
backslash escape a person can read (`\\x1b`, `\\r`, `\\n`, `\\u202e`), and a lone surrogate, which no
encoding writes, into `\\ud800`: the text prints whole, on one line, and says what it held.

Escaped: C0 (U+0000–U+001F, tab and newline included), DEL, C1 (U+0080–U+009F), the line and paragraph
separators U+2028/U+2029, the bidi embeddings, overrides and isolates U+202A–U+202E and U+2066–U+2069, and
the surrogates U+D800–U+DFFF. Everything else is left as written — accents, CJK, emoji (their joiners too),
and a backslash, so a configured pattern such as `\\b(outage)\\b` reads as configured.

`json_visible` does the same for JSON text a command prints: JSON escapes C0 itself, but leaves C1, the
separators and the bidi controls as they are; as `\\uXXXX` escapes they decode to the same strings.

A leaf module: it imports nothing, so the text builders (`explain`, the command line's tables) can share it.
"""

from __future__ import annotations

import re

# what a terminal obeys beyond C0, which JSON escapes itself: DEL, C1, the line and paragraph separators, the
# bidi embeddings, overrides and isolates
_STEERING = "\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[\x00-\x1f{_STEERING}\ud800-\udfff]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(found: re.Match[str]) -> str:
    char = found.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def visible(text: str) -> str:
    """Return `text` with every control character (see the module's docstring) as a visible escape."""
    return _UNSAFE.sub(_escape, text)


_UNSAFE_IN_JSON = re.compile(f"[{_STEERING}]")


def json_visible(text: str) -> str:
    """Return JSON `text` with what JSON leaves raw and a terminal obeys (DEL, C1, U+2028/2029, the bidi
    controls) as `\\uXXXX` escapes: the same JSON value, safe to print. Only strings can hold such characters,
    so an escape never lands outside one."""
    return _UNSAFE_IN_JSON.sub(lambda found: f"\\u{ord(found.group()):04x}", text)
