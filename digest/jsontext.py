"""JSON from outside (files, SNS messages, queue bodies): one reader whose only failure is BadJSON.

Python's json module raises ValueError (not JSONDecodeError) for an integer of over 4,300 digits, RecursionError
for deep nesting and UnicodeDecodeError for bad bytes. Here an integer too long to be any field's value stays
its text, so the field that wanted a number refuses it by name, and every other failure is one BadJSON with the
line and column it was found at. 1e999, NaN and Infinity stay the floats inf and nan: every numeric field checks
for them by name (a salary that is not a figure is left out with a warning, NaN means "not stated"; a
subscriber's number must be finite), and as text "1e999" would read as 1999 to a salary parser.
"""

from __future__ import annotations

import json
from typing import Any

BIG_INT_DIGITS = 100  # longer integers stay text: int() refuses 4,300 digits, and no field needs more than this
TOO_DEEP = "nested too deeply to be a record"


class BadJSON(ValueError):
    """Text that is not readable JSON; `msg`, `lineno` and `colno` as JSONDecodeError has them."""

    def __init__(self, msg: str, lineno: int | None = None, colno: int | None = None):
        super().__init__(msg if colno is None else f"{msg} at column {colno}")
        self.msg, self.lineno, self.colno = msg, lineno, colno


def _int(digits: str) -> int | str:
    return int(digits) if len(digits.lstrip("-")) <= BIG_INT_DIGITS else digits


_DECODER = json.JSONDecoder(parse_int=_int)


def loads(text: str | bytes) -> Any:
    """Parse a whole JSON text; raise BadJSON (never anything else) when it is not one."""
    try:
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8-sig")
        return _DECODER.decode(text)
    except json.JSONDecodeError as e:
        raise BadJSON(e.msg, e.lineno, e.colno) from None
    except RecursionError:
        raise BadJSON(TOO_DEEP) from None
    except UnicodeDecodeError:
        raise BadJSON("not UTF-8 text") from None


def raw_decode(text: str, index: int) -> tuple[Any, int]:
    """Parse one JSON value starting at `index`; return it and where it ended (for arrays read item by item)."""
    try:
        return _DECODER.raw_decode(text, index)
    except json.JSONDecodeError as e:
        raise BadJSON(e.msg, e.lineno, e.colno) from None
    except RecursionError:
        raise BadJSON(TOO_DEEP) from None
