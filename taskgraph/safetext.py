"""Text that came from tasks and jobs (names, error messages, progress notes), made safe to show.

A job's error text is whatever its code raised, and a name whatever its author chose; shown raw, an escape
sequence in it rewrites the operator's terminal (``ESC ] 0 ;`` sets the window title, ``ESC [ 2 J`` clears the
screen), a C0 character makes an SVG or XML document not well-formed, and a bidi override reorders what follows it
on screen. :func:`shown` writes each such character as a visible escape, the way Python's ``repr`` does.
"""

from __future__ import annotations

import re

__all__ = ["shown"]

# C0 controls but tab and newline, DEL, C1 controls, bidi marks, embeddings, overrides and isolates, the BOM, and
# lone surrogates (which no UTF-8 encoder accepts)
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff"
_IN_LINES = re.compile(f"[{_UNSAFE}]")
_IN_ONE_LINE = re.compile(f"[{_UNSAFE}\t\n]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(text: str, lines: bool = False) -> str:
    """``text`` with every character that could act on a terminal or break a document written as an escape
    (``\\x1b``, ``\\u202e``); with ``lines``, newlines and tabs are kept (a traceback), else escaped too."""
    return (_IN_LINES if lines else _IN_ONE_LINE).sub(_escape, text)
