"""Make candidate text inert before it reaches a terminal: control sequences become visible text.

A service's bodies, logs and build output are written by the candidate and quoted in reports.
Printed raw, they could clear the interviewer's screen, retitle the window (OSC 0/2), plant
hyperlinks (OSC 8), write the clipboard (OSC 52) or reorder what is read (bidi overrides).
:func:`safe_text` replaces every character that can start or carry such a sequence with a
visible stand-in, so the report shows that the candidate tried instead of hiding it:

- ESC and the other C0 controls except ``\\n`` and ``\\t``, DEL and the C1 controls
  (U+0080-U+009F, including the 8-bit CSI U+009B) become ``\\x1b``-style text. With its ESC
  (or C1 introducer) shown as text, a CSI, OSC, DCS, APC, PM or SOS string is plain text:
  ``\\x1b]0;pwned\\x07`` is printed as those 15 characters.
- bidi embeddings, overrides and isolates (U+202A-202E, U+2066-2069), the bidi marks
  (U+200E, U+200F, U+061C), the line and paragraph separators (U+2028, U+2029) and lone
  surrogates become ``<U+202E>``-style text.
- ``\\r\\n`` becomes ``\\n``; a lone ``\\r`` (which would let a line overwrite itself) is shown.

Rich markup is a second channel: candidate text must reach rich as ``rich.text.Text`` (see
:func:`safe`), never inside a markup string.
"""

from __future__ import annotations

from rich.text import Text

_VISIBLE_NAMES = {0x1B: "\\x1b", 0x0D: "\\r", 0x08: "\\b", 0x07: "\\a", 0x0C: "\\f", 0x0B: "\\v"}


def _table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]:
        if code in (0x09, 0x0A):
            continue
        table[code] = _VISIBLE_NAMES.get(code, f"\\x{code:02x}")
    for code in [
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
        0x200E,
        0x200F,
        0x061C,
        0x2028,
        0x2029,
        *range(0xD800, 0xE000),
    ]:
        table[code] = f"<U+{code:04X}>"
    return table


_TABLE = _table()


def safe_text(text: object) -> str:
    """``text`` (any object, via ``str``) with every terminal control shown as visible text."""
    return str(text).replace("\r\n", "\n").translate(_TABLE)


def safe(text: object, style: str = "") -> Text:
    """Candidate text as a rich ``Text``: sanitised, and never parsed as markup."""
    return Text(safe_text(text), style=style)
